"""Write-back: queue a new assessment for the EHR and deliver it as one idempotent transaction Bundle.

One set of resources per new assessment (see writeback_policy): keyed by what was assessed (EHR, model
name@version, patient, encounter, inputs digest), never by the time of the call; delivered after the
response (writeback_delivery), never inside it.

The three resources go in ONE transaction (all or nothing). RiskAssessment and Observation are
conditional creates (`ifNoneExist` on the business identifier = the idempotency key); before sending,
a delivery searches for that identifier, so a retry whose earlier attempt did commit (answer lost)
writes nothing again, the Provenance included (R4 Provenance has no identifier to be conditional on).
Duplicate hook calls and unchanged inputs share one row (unique key), hence one task.
FHIR R4 "transaction" and "conditional create": https://hl7.org/fhir/R4/http.html#transaction,
https://hl7.org/fhir/R4/http.html#ccreate
"""

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from audit.models import AuditRecord
from audit.services import audit_record_create
from config import outbound
from config.errors import ApplicationError
from config.fhir_json import CANONICAL, resource_json
from config.keys import decrypt_text, encrypt_text, pseudonymize
from config.leases import lease_free
from fhirapp import resources
from fhirapp.client import FhirClient
from fhirapp.errors import FhirServerNotRegistered
from fhirapp.models import WriteBack
from fhirapp.resources import Assessment
from fhirapp.services.writeback_delivery import write_back_dispatch
from fhirapp.services.writeback_policy import (
    WriteBackDecision,
    chart_lock,
    hold_reason,
    last_written,
    write_back_policy_get,
    write_back_reason,
)

logger = logging.getLogger(__name__)
WRITEBACK_ACTOR = "stratify:write-back"


def write_back_key(
    *,
    fhir_base_url: str,
    model_name: str,
    model_version: str,
    patient_id: str,
    encounter_id: str | None,
    input_digest: str,
) -> str:
    """sha256 over (EHR, model name@version, patient, encounter, inputs digest): the idempotency key.

    What was assessed, never when: the same inputs give the same key however often the chart is opened.
    """
    parts = [fhir_base_url.rstrip("/"), f"{model_name}@{model_version}", patient_id, encounter_id or "", input_digest]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def write_back_submit(
    *,
    result: Assessment,
    patient_id: str,
    encounter_id: str | None,
    fhir_base_url: str,
    source: str,
    service_id: str,
    user_token: str | None = None,
    hook_instance: str = "",
) -> WriteBackDecision | None:
    """Write this assessment back if the model's policy says it is new information; None when write-back is
    off or the result is unscored or shadow. Delivery is queued after commit, never run in the request.

    `source`: WriteBack.Source ("cds" or "sidebar"); `user_token`: the launching user's SMART token, for
    EHRs that let users write; `hook_instance`: the CDS call, which never writes twice.
    """
    if not settings.WRITEBACK_ENABLED or not result.scored or result.model_status == "shadow":
        return None
    base = fhir_base_url.rstrip("/")
    key = write_back_key(
        fhir_base_url=base,
        model_name=result.model_name,
        model_version=result.model_version,
        patient_id=patient_id,
        encounter_id=encounter_id,
        input_digest=result.input_digest,
    )
    pseudonym = pseudonymize(patient_id)
    with transaction.atomic():
        chart_lock(fhir_base_url=base, patient_pseudonym=pseudonym, model_name=result.model_name)
        held = _held(key=key, hook_instance=hook_instance, model_name=result.model_name)
        if held is not None:
            return held
        last = last_written(
            fhir_base_url=base,
            patient_pseudonym=pseudonym,
            model_name=result.model_name,
            encounter_id=encounter_id or "",
        )
        policy = write_back_policy_get(result.model_name)
        now = timezone.now()
        reason = write_back_reason(policy=policy, last=last, band=result.band or "", now=now)
        if not reason and last is not None:
            return WriteBackDecision(False, hold_reason(policy, last, now), last)
        write_back = _create(
            result,
            key=key,
            patient_id=patient_id,
            encounter_id=encounter_id,
            base=base,
            source=source,
            service_id=service_id,
            user_token=user_token,
            hook_instance=hook_instance,
            supersedes=last,
            recorded=now,
        )
        write_back_schedule(write_back)
    return WriteBackDecision(True, reason, write_back)


def write_back_enqueue(**kwargs: Any) -> WriteBack | None:
    """`write_back_submit`, answering the write-back now current in the chart (new or earlier), or None."""
    decision = write_back_submit(**kwargs)
    return decision.write_back if decision is not None else None


def _held(*, key: str, hook_instance: str, model_name: str) -> WriteBackDecision | None:
    """Nothing to write: this hook call already wrote, or these very inputs are already in the chart."""
    if hook_instance:
        earlier = WriteBack.objects.filter(hook_instance=hook_instance, model_name=model_name).first()
        if earlier is not None:
            return WriteBackDecision(False, "this CDS hook call was already answered", earlier)
    same = WriteBack.objects.filter(idempotency_key=key).first()
    if same is not None:
        return WriteBackDecision(False, "same inputs as an assessment already written", same)
    return None


def _create(
    result: Assessment,
    *,
    key: str,
    patient_id: str,
    encounter_id: str | None,
    base: str,
    source: str,
    service_id: str,
    user_token: str | None,
    hook_instance: str,
    supersedes: WriteBack | None,
    recorded: datetime,
) -> WriteBack:
    bundle = write_back_bundle(
        result,
        patient_id=patient_id,
        encounter_id=encounter_id,
        key=key,
        recorded=recorded,
        revises=_revised(supersedes),
    )
    return WriteBack.objects.create(
        idempotency_key=key,
        service_id=service_id,
        source=source,
        model_name=result.model_name,
        model_version=result.model_version,
        as_of=result.as_of,
        encounter_id=(encounter_id or "")[:200],
        input_digest=result.input_digest,
        band=result.band or "",
        hook_instance=hook_instance[:200],
        supersedes=supersedes,
        patient_pseudonym=pseudonymize(patient_id),
        patient_ref_encrypted=encrypt_text(patient_id),
        fhir_base_url=base,
        payload_encrypted=encrypt_text(orjson.dumps(bundle).decode()),
        user_token_encrypted=encrypt_text(user_token) if user_token else "",
        next_attempt_at=recorded,
    )


def _revised(earlier: WriteBack | None) -> dict[str, Any] | None:
    """A Reference to the superseded RiskAssessment: by its business identifier, literal when delivered."""
    if earlier is None:
        return None
    reference: dict[str, Any] = {
        "type": "RiskAssessment",
        "identifier": {"system": resources.IDENTIFIER_SYSTEM, "value": earlier.idempotency_key},
    }
    if earlier.risk_assessment_ref:
        reference["reference"] = earlier.risk_assessment_ref
    return reference


def write_back_schedule(write_back: WriteBack) -> None:
    """Dispatch delivery once the surrounding transaction commits (a worker never sees uncommitted rows)."""
    write_back_id = write_back.pk
    # robust: a broker outage is logged, never breaks the request; the row stays pending for "retry".
    transaction.on_commit(lambda: write_back_dispatch(write_back_id), robust=True)


def write_back_retry(write_back: WriteBack) -> bool:
    """Re-queue a failed write-back (admin action); False when it is not failed."""
    with transaction.atomic():
        now = timezone.now()
        updated = WriteBack.objects.filter(pk=write_back.pk, status=WriteBack.Status.FAILED).update(
            status=WriteBack.Status.PENDING, updated_at=now, next_attempt_at=now, lease_until=None
        )
        if updated:
            write_back_schedule(write_back)
    return bool(updated)


def write_back_bundle(
    result: Assessment,
    *,
    patient_id: str,
    encounter_id: str | None,
    key: str,
    recorded: datetime,
    revises: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The transaction Bundle: RiskAssessment and Observation as conditional creates, then their Provenance
    (which names the superseded RiskAssessment, `revises`, as a revised entity)."""
    ra_url, obs_url = _urn(key, "RiskAssessment"), _urn(key, "Observation")
    ra = resources.risk_assessment_build(result, patient_id=patient_id, encounter_id=encounter_id, identifier=key)
    obs = resources.observation_build(result, patient_id=patient_id, encounter_id=encounter_id, identifier=key)
    prov = resources.provenance_build(result, targets=[ra_url, obs_url], recorded=recorded, tag=key, revises=revises)
    by_identifier = f"identifier={resources.IDENTIFIER_SYSTEM}|{key}"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry(ra_url, resource_json(ra), by_identifier),
            _entry(obs_url, resource_json(obs), by_identifier),
            _entry(_urn(key, "Provenance"), resource_json(prov), None),
        ],
    }


def _urn(key: str, resource_type: str) -> str:
    """A stable urn:uuid per (key, type) so a retried Bundle is byte-identical."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{CANONICAL}/write-back/{key}/{resource_type}')}"


def _entry(full_url: str, resource: dict[str, Any], if_none_exist: str | None) -> dict[str, Any]:
    request = {"method": "POST", "url": resource["resourceType"]}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": full_url, "resource": resource, "request": request}


def write_back_claim(write_back_id: int, owner: str) -> bool:
    """Take the lease on a pending row for one attempt (until the task's time limit); False when it is not pending
    or another task holds it (a duplicate message re-queued by the reconciler). The same task's own retries
    (same Celery task id) may take it back, e.g. after our database dropped the connection mid-attempt."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.WRITEBACK_TASK_TIME_LIMIT_SECONDS)
    return bool(
        WriteBack.objects.filter(lease_free(now, owner), pk=write_back_id, status=WriteBack.Status.PENDING).update(
            attempts=F("attempts") + 1, lease_until=until, lease_owner=owner[:64], next_attempt_at=until, updated_at=now
        )
    )


def retry_due(attempts: int) -> datetime:
    """The latest time the retry after attempt number `attempts` runs: Celery's backoff before its jitter."""
    base = max(1, int(settings.WRITEBACK_RETRY_BASE_SECONDS))  # Celery rounds it so
    return timezone.now() + timedelta(seconds=backoff_cap_seconds(attempts, base))


def backoff_cap_seconds(attempts: int, base: float) -> float:
    """The longest wait after attempt number `attempts`: min(base * 2**(attempts-1), WRITEBACK_RETRY_MAX_SECONDS)."""
    return float(min(settings.WRITEBACK_RETRY_MAX_SECONDS, base * 2 ** max(0, attempts - 1)))


def write_back_retry_at(write_back: WriteBack, delay: float) -> None:
    """Due again in `delay` s (an eager retry's own backoff): the reconciler takes it if this process exits first."""
    _save(write_back, next_attempt_at=timezone.now() + timedelta(seconds=delay))


def write_back_deliver(*, write_back_id: int, attempt_owner: str = "") -> WriteBack:
    """POST the Bundle once. Marks succeeded, or failed on a 4xx; re-raises retryable errors (5xx, timeout).

    Nothing is done for a row that is no longer pending or whose lease another attempt holds.
    """
    if not write_back_claim(write_back_id, attempt_owner):
        return WriteBack.objects.get(pk=write_back_id)
    write_back = WriteBack.objects.get(pk=write_back_id)
    try:
        client = _client(write_back)
        refs = _already_written(client, write_back.idempotency_key)
        if not refs:
            response = client.transaction(
                orjson.loads(decrypt_text(write_back.payload_encrypted)),
                deadline=time.monotonic() + settings.WRITEBACK_TIMEOUT_SECONDS,
            )
            refs = [str(e.get("response", {}).get("location", "")) for e in response.get("entry", [])]
    except ApplicationError as exc:
        if getattr(exc, "retryable", False):
            _save(
                write_back, last_error=error_of(exc), lease_until=None, next_attempt_at=retry_due(write_back.attempts)
            )
            raise
        return write_back_fail(write_back, error_of(exc))
    _save(
        write_back,
        status=WriteBack.Status.SUCCEEDED,
        resource_refs=refs,
        last_error={},
        user_token_encrypted="",
        lease_until=None,
        next_attempt_at=None,
    )
    _audit(write_back, outcome="success", detail={"resource_refs": refs})
    return write_back


def _already_written(client: FhirClient, key: str) -> list[str]:
    """References of the resources an earlier attempt already committed (its answer may have been lost).

    RiskAssessment and Observation are also conditional creates; this check is what keeps the
    Provenance (no identifier, so no portable conditional create) from being written twice.
    """
    deadline = time.monotonic() + settings.WRITEBACK_TIMEOUT_SECONDS
    query = urlencode({"identifier": f"{resources.IDENTIFIER_SYSTEM}|{key}"})
    found = client.bundle_resources(client.search_url(f"RiskAssessment?{query}", deadline=deadline), deadline=deadline)
    if not found:
        return []
    observations = client.bundle_resources(
        client.search_url(f"Observation?{query}", deadline=deadline), deadline=deadline
    )
    return [f"{r['resourceType']}/{r['id']}" for r in [*found, *observations]]


def write_back_fail(write_back: WriteBack, error: dict[str, Any]) -> WriteBack:
    """Mark failed with the error (OperationOutcome included) and audit it."""
    _save(
        write_back,
        status=WriteBack.Status.FAILED,
        last_error=error,
        user_token_encrypted="",
        lease_until=None,
        next_attempt_at=None,
    )
    _audit(write_back, outcome="failure", detail={"error": {k: error.get(k) for k in ("message", "code")}})
    logger.warning("write-back %s failed: %s", write_back.pk, error.get("code"))
    return write_back


def token_provider() -> Callable[..., str]:
    """The SMART Backend Services token function the settings name (`WRITEBACK_TOKEN_PROVIDER`)."""
    return cast(Callable[..., str], import_string(settings.WRITEBACK_TOKEN_PROVIDER))


def _client(write_back: WriteBack) -> FhirClient:
    """A client for the write-back's EHR; only a registered one gets a token, let alone the patient's data."""
    if not outbound.is_registered(write_back.fhir_base_url):
        raise FhirServerNotRegistered(extra={"fhir_base_url": write_back.fhir_base_url[:300]})
    if write_back.user_token_encrypted:
        token = decrypt_text(write_back.user_token_encrypted)
    else:
        token = token_provider()(iss=write_back.fhir_base_url, scope=settings.WRITEBACK_SCOPE)
    return FhirClient(write_back.fhir_base_url, token=token, timeout=settings.WRITEBACK_TIMEOUT_SECONDS)


def error_of(exc: BaseException) -> dict[str, Any]:
    """The stored error shape {"message","code","extra"} of any exception (OperationOutcome in extra)."""
    if isinstance(exc, ApplicationError):
        return {"message": exc.message, "code": exc.code, "extra": exc.extra}
    return {"message": str(exc) or type(exc).__name__, "code": "error", "extra": {"type": type(exc).__name__}}


def _save(write_back: WriteBack, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(write_back, name, value)
    write_back.save(update_fields=[*fields, "updated_at"])


def _audit(write_back: WriteBack, *, outcome: str, detail: dict[str, Any]) -> None:
    audit_record_create(
        action=AuditRecord.Action.WRITE_BACK,
        outcome=outcome,
        actor=WRITEBACK_ACTOR,
        actor_detail={"source": write_back.source, "service_id": write_back.service_id},
        patient_id=decrypt_text(write_back.patient_ref_encrypted),
        model_name=write_back.model_name,
        model_version=write_back.model_version,
        output_summary={"status": write_back.status, "attempts": write_back.attempts},
        detail={"write_back_id": write_back.pk, "fhir_base_url": write_back.fhir_base_url, **detail},
    )
