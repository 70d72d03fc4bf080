"""ORM models of scoring: the model registry and the per-version threshold policy with its change history."""
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
            models.UniqueConstraint(fields=["name"], condition=models.Q(status="active"),
                                    name="scoring_one_active_version_per_model"),
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
