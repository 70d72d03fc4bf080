"""ORM of population runs: cohorts, runs, their downloaded files and chunks, and one result per patient and model."""

from datetime import time

from django.db import models

from smart_launch.models import EhrRegistration


class Cohort(models.Model):
    """Who to stratify: an EHR registration, a Group there (or every patient), the models to run, when."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    registration = models.ForeignKey(EhrRegistration, on_delete=models.PROTECT, related_name="cohorts")
    group_id = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="FHIR Group id at the EHR; empty exports every patient (Patient/$export).",
    )
    model_names = models.JSONField(default=list, help_text='Catalogue model names, e.g. ["sepsis", "news2"].')
    write_back = models.BooleanField(
        default=False,
        help_text="Write population results back to the EHR "
        "(following each model's write-back policy). Off by default.",
    )
    schedule_enabled = models.BooleanField(default=True, help_text="Run nightly at the time below.")
    schedule_time = models.TimeField(default=time(2, 0), help_text="Time of day (UTC) of the nightly run.")
    chunk_size = models.PositiveIntegerField(default=500, help_text="Patients per scoring task.")
    patient_url_template = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="Where a worklist row links: the EHR's chart of the patient (which opens the sidebar), "
        "e.g. https://ehr.example.org/chart/{patient_id}. Empty: no link.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class PopulationRun(models.Model):
    """One stratification of a cohort: export, download, grouping, scoring in chunks."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        EXPORTING = "exporting"
        DOWNLOADING = "downloading"
        GROUPING = "grouping"
        SCORING = "scoring"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        SCHEDULE = "schedule"

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    scheduled_for = models.DateField(null=True, blank=True, help_text="The night a scheduled run is for.")
    incremental = models.BooleanField(default=False, help_text="Exported with _since (only what changed).")
    since = models.DateTimeField(null=True, blank=True)
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status_url = models.URLField(max_length=1000, blank=True, default="")
    progress = models.CharField(max_length=100, blank=True, default="")
    requires_token = models.BooleanField(default=True, help_text="The manifest's requiresAccessToken.")
    transaction_time = models.DateTimeField(null=True, blank=True)
    patients_total = models.PositiveIntegerField(default=0)
    patients_scored = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    error = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["cohort", "scheduled_for"], name="population_one_per_night")]

    def __str__(self) -> str:
        return f"{self.cohort} run {self.pk} ({self.status})"

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish, when finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def patients_per_minute(self) -> float | None:
        """Patients scored per minute from start to finish, when finished."""
        seconds = self.duration_s
        return self.patients_scored / seconds * 60 if seconds else None


class RunFile(models.Model):
    """One file of a run's export manifest and whether we have it (a run resumes with the missing ones)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(PopulationRun, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=64)
    url = models.URLField(max_length=1000)
    is_error_file = models.BooleanField(default=False, help_text="An OperationOutcome file of the manifest's error[].")
    is_deleted_file = models.BooleanField(
        default=False, help_text="A file of the manifest's deleted[]: Bundles of what was deleted since _since."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    size = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "url"], name="population_file_once")]

    def __str__(self) -> str:
        return f"{self.resource_type} ({self.status})"


class RunChunk(models.Model):
    """One Celery task's share of a run; scored once (its results and audit commit with `done`)."""

    run = models.ForeignKey(PopulationRun, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    patients = models.PositiveIntegerField(default=0)
    done = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    # An attempt holds the chunk until its task's time limit (config.leases): a duplicate message waits, and the
    # chunk reconciler queues the chunk again once the lease has run out unfinished (a killed or hung worker).
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)  # the Celery task id (kept by its own retries)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="population_chunk_once")]
        indexes = [models.Index(fields=["lease_until"], condition=models.Q(done=False), name="population_chunk_lease")]

    def __str__(self) -> str:
        return f"chunk {self.number} of run {self.run_id}"


class PatientResult(models.Model):
    """One patient's result of one model in one run, with the change since the cohort's previous run."""

    run = models.ForeignKey(PopulationRun, on_delete=models.CASCADE, related_name="results")
    chunk = models.PositiveIntegerField()
    patient_id = models.CharField(max_length=64)
    patient_name = models.CharField(max_length=200, blank=True, default="")
    unit = models.CharField(max_length=200, blank=True, default="", help_text="Location of the latest encounter.")
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64)
    scored = models.BooleanField()
    probability = models.FloatField(null=True)
    points = models.FloatField(null=True)
    rank_value = models.FloatField(null=True, help_text="Probability or points: what the worklist ranks by.")
    band = models.CharField(max_length=16, blank=True, default="")
    summary = models.CharField(max_length=300, blank=True, default="")
    top_driver = models.CharField(max_length=300, blank=True, default="", help_text="The top clinical driver.")
    drivers = models.JSONField(default=list)
    reasons = models.JSONField(default=list, help_text="A refusal's reasons, or a score's notes.")
    input_digest = models.CharField(max_length=64, blank=True, default="")
    data_time = models.DateTimeField(null=True, help_text="Time of the newest input used.")
    previous_band = models.CharField(max_length=16, blank=True, default="")
    delta = models.FloatField(null=True, help_text="Change of probability or points since the previous run.")
    band_change = models.SmallIntegerField(default=0, help_text="+1 band up, -1 band down, 0 same or unknown.")
    changed = models.BooleanField(default=False, help_text="Band or value differs from the previous run.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "patient_id", "model_name"], name="population_result_once")
        ]
        indexes = [
            models.Index(fields=["run", "model_name", "rank_value"], name="population_rank"),
            models.Index(fields=["run", "chunk"], name="population_chunk"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.band or 'not scored'} (run {self.run_id})"
