"""The alert's Flag written to the EHR, only where the site turned it on (ALERTS_FLAG_WRITEBACK) and the
write-back to the chart is on at all (WRITEBACK_ENABLED): written when the alert is raised, made inactive when
it closes, each time a PUT of the whole Flag under an id we chose (so a retried task never duplicates it, and no
search or conditional create is needed; an EHR that refuses client-chosen ids answers 4xx: audited failure).

Off by default: a Flag is shown in every chart view of some EHRs (a banner), which is the EHR team's call; the
inbox, e-mail and webhook carry the alert without it. Backend Services token (smart_launch.backend) for the
registration's FHIR server; transient failures are retried by the Celery task, definite ones logged and audited.
"""

import time
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.fhir import flag_build
from alerts.models import Alert
from audit.services import audit_record_create
from config.errors import ApplicationError
from config.keys import decrypt_text
from fhirapp.client import FhirClient
from smart_launch.backend import backend_access_token
from smart_launch.models import EhrRegistration

FLAG_ACTOR = "stratify:alert-flag"


def flag_writeback_on() -> bool:
    """Both switches on: the write-back policy's (WRITEBACK_ENABLED) and the Flag's (ALERTS_FLAG_WRITEBACK)."""
    return bool(settings.WRITEBACK_ENABLED and settings.ALERTS_FLAG_WRITEBACK)


def flag_schedule(alert_id: int) -> None:
    """Write or update the alert's Flag after commit, when the switches are on."""
    if not flag_writeback_on():
        return
    from alerts.tasks import flag_write

    transaction.on_commit(lambda: flag_write.delay(alert_id), robust=True)


def flag_id(alert_id: int) -> str:
    """The Flag's id, chosen by us so that every write is an idempotent PUT (R4 update-as-create,
    https://hl7.org/fhir/R4/http.html#upsert): unique per installation (PUBLIC_BASE_URL) and alert."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{settings.PUBLIC_BASE_URL}/alerts/{alert_id}"))


def flag_body(alert: Alert) -> dict[str, object]:
    """The alert's Flag as it stands now."""
    return flag_build(
        alert_id=alert.pk,
        patient_id=decrypt_text(alert.patient_ref_encrypted),
        model_name=alert.model_name,
        model_version=alert.model_version,
        title=alert.title,
        band=alert.band,
        score_text=alert.score_text,
        summary=alert.summary,
        start=alert.created_at,
        end=alert.closed_at,
    )


def flag_write(alert_id: int) -> str:
    """PUT the Flag as the alert stands now (created the first time); its reference.
    Raises UpstreamUnavailable for failures that may pass (the task retries); audits definite failures."""
    alert = Alert.objects.get(pk=alert_id)
    registration = EhrRegistration.objects.get(pk=alert.registration_id)
    token = backend_access_token(iss=registration.iss, scope=settings.ALERTS_FLAG_SCOPE)
    client = FhirClient(registration.iss, token=token, timeout=settings.WRITEBACK_TIMEOUT_SECONDS)
    deadline = time.monotonic() + settings.WRITEBACK_TIMEOUT_SECONDS
    ref = alert.flag_ref or f"Flag/{flag_id(alert.pk)}"
    body = flag_body(alert)
    try:
        client.request("PUT", ref, body={**body, "id": ref.split("/", 1)[1]}, deadline=deadline)
    except ApplicationError as exc:
        if getattr(exc, "retryable", False):
            raise
        _audit(alert, outcome="failure", detail={"error": exc.code, "message": exc.message[:300]})
        return ""
    Alert.objects.filter(pk=alert.pk).update(flag_ref=ref)
    _audit(alert, outcome="success", detail={"flag": ref, "flag_status": body["status"]})
    return ref


def _audit(alert: Alert, *, outcome: str, detail: dict[str, object]) -> None:
    audit_record_create(
        action="write_back",
        outcome=outcome,
        actor=FLAG_ACTOR,
        patient_id=decrypt_text(alert.patient_ref_encrypted),
        model_name=alert.model_name,
        model_version=alert.model_version,
        output_summary={"status": alert.status, "at": timezone.now().isoformat()},
        detail={"alert_id": alert.pk, "resource": "Flag", **detail},
    )
