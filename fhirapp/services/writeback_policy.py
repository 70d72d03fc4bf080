"""Write-back policy: is an assessment new information for the chart? Per model, edited in admin with history.

The chart gets one set of resources per new assessment: the first for a patient and encounter, a changed
band, or changed inputs once the model's minimum interval has passed since the last one written. The same
inputs (same key) and a repeated CDS `hookInstance` never write again. Otherwise nothing is written and the
card or sidebar names the RiskAssessment that stays current.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from audit.services import audit_record_create
from config.errors import ValidationFailed
from fhirapp.models import WriteBack, WriteBackPolicy, WriteBackPolicyChange

POLICY_FIELDS = ("write_on_band_change", "min_interval_minutes")
LIVE = (WriteBack.Status.PENDING, WriteBack.Status.SUCCEEDED)  # a failed one is not in the chart


@dataclass(frozen=True, slots=True)
class WriteBackDecision:
    """Whether this assessment is written, why, and the write-back that is current in the chart after it."""

    written: bool
    reason: str
    write_back: WriteBack | None  # the new row when written, else the current one (None: nothing in the chart)

    @property
    def note(self) -> str:
        """One sentence for the card and the sidebar."""
        if self.written:
            return f"Written to the chart as a new RiskAssessment ({self.reason})."
        return f"Not written to the chart again ({self.reason}); {current_text(self.write_back)}"


def current_text(write_back: WriteBack | None) -> str:
    """Which written RiskAssessment is current, in words."""
    if write_back is None:
        return "no RiskAssessment of this model is in the chart."
    when = f"{write_back.as_of:%Y-%m-%d %H:%M} UTC"
    ref = write_back.risk_assessment_ref
    if ref:
        return f"the current one is {ref} (assessed {when})."
    return f"the current one is the assessment of {when} (delivery {write_back.status})."


def write_back_policy_get(model_name: str) -> WriteBackPolicy:
    """The model's policy; the documented defaults when no admin has made one yet."""
    return WriteBackPolicy.objects.filter(model_name=model_name).first() or WriteBackPolicy(model_name=model_name)


def chart_lock(*, fhir_base_url: str, patient_pseudonym: str, model_name: str) -> None:
    """Serialise decisions for one patient and model until the transaction ends (PostgreSQL advisory lock;
    SQLite already runs one writer at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"write-back\n{fhir_base_url}\n{patient_pseudonym}\n{model_name}"],
            )


def last_written(*, fhir_base_url: str, patient_pseudonym: str, model_name: str, encounter_id: str) -> WriteBack | None:
    """The latest write-back in the chart (pending or succeeded) for this patient, encounter and model."""
    return (
        WriteBack.objects.filter(
            fhir_base_url=fhir_base_url,
            patient_pseudonym=patient_pseudonym,
            model_name=model_name,
            encounter_id=encounter_id,
            status__in=LIVE,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def write_back_reason(*, policy: WriteBackPolicy, last: WriteBack | None, band: str, now: datetime) -> str:
    """Why this (new-inputs) assessment is new information, or "" when the policy says it is not."""
    if last is None:
        return "first assessment for this patient and encounter"
    if policy.write_on_band_change and last.band != band:
        return f"band changed from {last.band or 'none'} to {band or 'none'}"
    if now - last.created_at >= timedelta(minutes=policy.min_interval_minutes):
        return f"inputs changed, {policy.min_interval_minutes} min or more since the last one written"
    return ""


def hold_reason(policy: WriteBackPolicy, last: WriteBack, now: datetime) -> str:
    """Why changed inputs are not written yet."""
    minutes = max(0, int((now - last.created_at).total_seconds() // 60))
    return (
        f"inputs changed, same band, last one written {minutes} min ago; the {policy.model_name} policy "
        f"writes at most every {policy.min_interval_minutes} min"
    )


def write_back_policy_update(
    *, policy: WriteBackPolicy, changes: dict[str, Any], actor: str, reason: str
) -> WriteBackPolicy:
    """Edit a policy with history (who, when, why, before, after) and an audit record."""
    if not reason.strip():
        raise ValidationFailed("A reason is required.", extra={"fields": {"reason": "required"}})
    before = {f: getattr(policy, f) for f in POLICY_FIELDS} if policy.pk else {}
    after = {
        **{f: getattr(policy, f) for f in POLICY_FIELDS},
        **{k: v for k, v in changes.items() if k in POLICY_FIELDS},
    }
    with transaction.atomic():
        for key, value in after.items():
            setattr(policy, key, value)
        policy.save()
        WriteBackPolicyChange.objects.create(policy=policy, changed_by=actor, reason=reason, before=before, after=after)
        audit_record_create(
            action="admin_change",
            actor=f"admin:{actor}",
            purpose_of_use="HSYSADMIN",
            model_name=policy.model_name,
            detail={"what": "write-back policy", "before": before, "after": after, "reason": reason},
        )
    return policy
