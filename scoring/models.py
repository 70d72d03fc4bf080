"""ORM models of scoring: the model registry, the per-version threshold policy with its change history, and the
monitoring records (served inferences, drift runs,
outcomes, monitor thresholds with history, performance runs)."""

from django.db import models

from audit.models import ChangeRecord

INDICATOR_CHOICES = [("info", "info"), ("warning", "warning"), ("critical", "critical")]


class ModelVersion(models.Model):
    """One registered version of a model: its artifact, checksum, status and training metrics."""

    class Status(models.TextChoices):
        """Where a version stands: shadow (scored, never shown), canary (a share of patients), active, retired."""

        SHADOW = "shadow"
        CANARY = "canary"
        ACTIVE = "active"
        RETIRED = "retired"

    class Kind(models.TextChoices):
        """An ONNX artifact, or a published rule score."""

        ML = "ml"
        RULE = "rule"

    name = models.CharField(max_length=64)
    version = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    sha256 = models.CharField(max_length=64, blank=True)
    artifact_path = models.CharField(max_length=500, blank=True, help_text="folder with model.onnx, booster.json, card")
    spec_version = models.CharField(max_length=32)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SHADOW)
    metrics = models.JSONField(default=dict, blank=True)
    card = models.JSONField(default=dict, blank=True)
    registered_by = models.CharField(max_length=150)
    registered_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="scoring_model_version_unique"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(status="active"), name="scoring_one_active_version_per_model"
            ),
        ]
        ordering = ["name", "-registered_at"]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.status})"


class ThresholdPolicy(models.Model):
    """Band thresholds of one model version and the CDS indicator of each band (edited in admin)."""

    model_version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="policy")
    moderate_at = models.FloatField(help_text="probability (ML) or points (rules) at which the band is moderate")
    high_at = models.FloatField(help_text="probability (ML) or points (rules) at which the band is high")
    low_indicator = models.CharField(max_length=8, choices=INDICATOR_CHOICES, default="info")
    moderate_indicator = models.CharField(max_length=8, choices=INDICATOR_CHOICES, default="warning")
    high_indicator = models.CharField(max_length=8, choices=INDICATOR_CHOICES, default="critical")
    source = models.CharField(max_length=300, help_text="where the values come from (training criterion, chart)")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "threshold policies"

    def __str__(self) -> str:
        return f"policy of {self.model_version}"


class ThresholdPolicyChange(ChangeRecord):
    """History of policy edits: who, when, why, before and after (append-only)."""

    policy = models.ForeignKey(ThresholdPolicy, on_delete=models.CASCADE, related_name="changes")

    def __str__(self) -> str:
        return f"{self.policy} changed by {self.changed_by} at {self.changed_at:%Y-%m-%d %H:%M}"


class ServedInference(models.Model):
    """One scored inference as served (any door), kept for the drift monitors until MONITORING_RETENTION_DAYS.

    Keyed by the audit pseudonym of the patient, never a raw identifier. `features` is the input vector in
    the card's feature order (null = missing); empty for rule scores.
    """

    recorded_at = models.DateTimeField(db_index=True)
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64)
    model_status = models.CharField(max_length=8)
    patient_pseudonym = models.CharField(max_length=64)
    as_of = models.DateTimeField()
    score = models.FloatField(help_text="calibrated probability (ML) or points (rules)")
    band = models.CharField(max_length=8)
    features = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["model_name", "model_version", "recorded_at"])]

    def __str__(self) -> str:
        return f"{self.model_name} {self.model_version} at {self.recorded_at:%Y-%m-%d %H:%M}"


class DriftRun(models.Model):
    """One drift check of a model version's served inferences against its reference profile (append-only)."""

    class Verdict(models.TextChoices):
        """What the run found."""

        STABLE = "stable"
        ATTENTION = "attention"  # a feature, missingness or the score drifted: a governance finding
        TOO_FEW = "too_few"  # fewer served inferences than MONITORING_MIN_ROWS in the window
        NO_REFERENCE = "no_reference"  # the card has no reference profile

    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    rows = models.IntegerField()
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    flagged = models.JSONField(default=list, blank=True, help_text="names of the drifted features (and 'score')")
    results = models.JSONField(default=dict, blank=True, help_text="per feature and score: tests and statistics")
    run_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["model_name", "model_version", "created_at"])]

    def __str__(self) -> str:
        return f"drift {self.model_name} {self.model_version}: {self.verdict}"


class PromotionRequest(models.Model):
    """A request to promote a challenger version (shadow, or canary to active) over the serving champion.

    It keeps the evidence compared when it was made (the same recent served cases scored by both, and the labelled
    local stays the challenger was validated on), and its decision: a second person approves or rejects it with a
    reason (PROMOTION_TWO_PERSON_RULE), and an approved promotion is rolled back in one action (the statuses before
    it are restored).
    """

    class State(models.TextChoices):
        """Where the request stands."""

        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        ROLLED_BACK = "rolled_back"

    class Target(models.TextChoices):
        """The status asked for."""

        CANARY = "canary"
        ACTIVE = "active"

    challenger = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotion_requests")
    champion = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="challenged_by"
    )
    target_status = models.CharField(max_length=8, choices=Target.choices)
    reason = models.TextField(help_text="why the challenger should serve")
    evidence = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    requested_by = models.CharField(max_length=150)
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    statuses_before = models.JSONField(default=dict, blank=True, help_text="version -> status before approval")
    rolled_back_by = models.CharField(max_length=150, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rollback_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.challenger} to {self.target_status} ({self.state})"


class ModelChange(ChangeRecord):
    """The change log of a model: what changed, why, the evidence, who requested and who approved it (append-only).

    The shape of an FDA predetermined change control plan's record of a modification: its description (what),
    the protocol followed (method and data, in `evidence`) and the performance assessed before it was made
    (FDA. Marketing Submission Recommendations for a Predetermined Change Control Plan for Artificial
    Intelligence-Enabled Device Software Functions. Guidance, December 2024). `changed_by` requested it.
    """

    class Kind(models.TextChoices):
        """What kind of change."""

        ADAPTATION = "adaptation"  # a new version fitted to local data (registered as shadow)
        PROMOTION = "promotion"
        ROLLBACK = "rollback"

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="change_log")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    what = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    approved_by = models.CharField(max_length=150, blank=True)
    request = models.ForeignKey(PromotionRequest, on_delete=models.PROTECT, null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} of {self.model_version} at {self.changed_at:%Y-%m-%d %H:%M}"


class OutcomeImport(models.Model):
    """One batch of outcomes taken in: a labelled file, or a collection from an EHR over FHIR (append-only)."""

    class Kind(models.TextChoices):
        """Where the batch came from."""

        FILE = "file"
        FHIR = "fhir"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    source = models.CharField(max_length=500, help_text="file name, or the EHR's FHIR base URL")
    rows = models.IntegerField(help_text="outcomes read from the source")
    created = models.IntegerField(help_text="outcomes stored (the others were already stored)")
    imported_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.source} ({self.created} of {self.rows}) at {self.created_at:%Y-%m-%d %H:%M}"


class Outcome(models.Model):
    """One observed outcome of a patient for a model, keyed by the same pseudonym as `ServedInference`.

    `occurred`: the outcome happened at `at` (sepsis onset; the start of a readmission). Otherwise the patient
    was followed without it until `at` (the end of a stay without sepsis, the last day a record was checked).
    The performance monitors link these to served inferences within the model's horizon
    (`scoring.monitoring.labels`).
    """

    model_name = models.CharField(max_length=64)
    patient_pseudonym = models.CharField(max_length=64)
    occurred = models.BooleanField()
    at = models.DateTimeField(help_text="onset when it occurred; end of follow-up without it otherwise")
    source_key = models.CharField(max_length=64, help_text="sha256 of what identifies it at its source")
    batch = models.ForeignKey(OutcomeImport, on_delete=models.PROTECT, related_name="outcomes")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_name", "source_key"], name="scoring_outcome_source_unique")
        ]
        indexes = [models.Index(fields=["model_name", "patient_pseudonym"])]

    def __str__(self) -> str:
        what = "occurred" if self.occurred else "followed without it until"
        return f"{self.model_name} {what} {self.at:%Y-%m-%d %H:%M}"


class MonitorPolicy(models.Model):
    """Thresholds of every monitor of one model, and who is told of a finding (edited in admin, with history).
    Defaults and their sources: `scoring.monitoring.policy`. An empty performance bound means the version card's
    own external value."""

    model_name = models.CharField(max_length=64, unique=True)
    psi_major = models.FloatField(default=0.25, help_text="PSI at or above which a column's change is major")
    missing_change = models.FloatField(default=0.10, help_text="change of a column's missing share that is major")
    drift_share = models.FloatField(default=0.5, help_text="share of drifted columns that opens a finding")
    min_events = models.PositiveIntegerField(
        default=100,
        help_text="patients with the outcome, and without it, among the labelled scores before performance (overall "
        "or in a subgroup) is judged",
    )
    auroc_min = models.FloatField(null=True, blank=True, help_text="empty: the card's external AUROC")
    auprc_min = models.FloatField(null=True, blank=True, help_text="empty: the card's external AUPRC")
    ece_max = models.FloatField(null=True, blank=True, help_text="empty: not judged")
    slope_min = models.FloatField(default=1.0, help_text="calibration slope: a finding when its CI is below")
    slope_max = models.FloatField(default=1.0, help_text="calibration slope: a finding when its CI is above")
    intercept_max = models.FloatField(
        default=0.0, help_text="|calibration intercept|: a finding when its CI lies beyond this on one side"
    )
    subgroup_auroc_min = models.FloatField(
        null=True, blank=True, help_text="empty: each subgroup's AUROC on the card's external set"
    )
    alerts_per_100_max = models.FloatField(
        null=True, blank=True, help_text="alerts per 100 scored patients; empty: not judged"
    )
    ppv_min = models.FloatField(null=True, blank=True, help_text="alerts followed by the outcome; empty: not judged")
    notify_email_to = models.CharField(
        max_length=1000, blank=True, help_text="Comma-separated addresses told when a monitor opens a finding."
    )
    notify_webhook = models.BooleanField(
        default=False, help_text="POST each new finding to ALERTS_WEBHOOK_URL (signed, as alerts are)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "monitor policies"

    def __str__(self) -> str:
        return f"monitor policy of {self.model_name}"


class MonitorPolicyChange(ChangeRecord):
    """History of monitor threshold edits: who, when, why, before and after (append-only)."""

    policy = models.ForeignKey(MonitorPolicy, on_delete=models.CASCADE, related_name="changes")

    def __str__(self) -> str:
        return f"{self.policy.model_name} monitor policy change {self.changed_at:%Y-%m-%d %H:%M}"


class PerformanceRun(models.Model):
    """One performance check of a version's labelled served inferences against its thresholds (append-only)."""

    class Verdict(models.TextChoices):
        """What the run found."""

        STABLE = "stable"
        ATTENTION = "attention"  # a threshold crossed: a governance finding
        TOO_FEW = "too_few"  # fewer patients with (or without) the outcome than the policy's min_events

    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    rows = models.IntegerField(help_text="labelled served inferences")
    positives = models.IntegerField()
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    breaches = models.JSONField(default=list, blank=True, help_text="the thresholds crossed, in words")
    results = models.JSONField(default=dict, blank=True, help_text="metrics with intervals, bins, subgroups, alerts")
    thresholds = models.JSONField(default=dict, blank=True, help_text="the thresholds the run applied")
    run_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["model_name", "model_version", "created_at"])]

    def __str__(self) -> str:
        return f"performance {self.model_name} {self.model_version}: {self.verdict}"
