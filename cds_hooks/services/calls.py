"""One CDS service call: parse, resolve data within the budget, score, build cards, record (audit, write-back)."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter

from audit.models import AuditRecord
from audit.services import AuditBatch, audit_batch, audit_record_create
from cds_hooks.errors import CdsServiceNotFound, FhirServerNotRegistered
from cds_hooks.models import CdsServiceSetting, IssuedCard, fhir_base_normalize
from cds_hooks.schemas import HOOK_CONTEXTS, Card, CdsRequest, CdsResponse
from cds_hooks.selectors import CdsServiceDefinition, cds_service_setting, cds_services
from cds_hooks.services import cards as card_builders
from cds_hooks.trust import CdsCaller, caller_claim
from config.errors import DATABASE_ERRORS, ValidationFailed
from config.keys import encrypt_text, pseudonymize
from fhirapp.client import FhirClient
from fhirapp.fetch import snapshot_fetch
from fhirapp.models import WriteBack
from fhirapp.services.writeback import write_back_submit
from fhirapp.shapes import PREFETCH_VALUE, prefetch_value_decode
from fhirapp.snapshot import PatientSnapshot
from scoring.models import ModelVersion
from scoring.selectors import model_card_url
from scoring.services import score_with_shadows
from scoring.types import ScoreResult

logger = logging.getLogger(__name__)
DEGRADED = Counter("stratify_cds_degraded", "CDS calls answered with the degraded card: our database was down")


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the recording step needs to know about the call."""

    service: CdsServiceDefinition
    request: CdsRequest
    patient_id: str
    encounter_id: str | None
    user_id: str
    caller: CdsCaller
    checked: frozenset[str] = frozenset()  # prefetch keys read into checked resources (`request_body`)


def json_body(body: bytes | memoryview) -> object:
    """Decode a JSON request body (orjson) or raise a 400."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed("The request body is not valid JSON.", extra={"reason": str(exc)}) from exc


@dataclass(frozen=True, slots=True)
class CdsAnswer:
    """A call's response JSON and the parsed request it answers (kept until the response is sent, so that
    freeing it does not hold the caller up: `config.gc_pause.HeldResponse`)."""

    json: dict[str, Any]
    request: object


def _envelope(prefetch_value: Any) -> msgspec.json.Decoder[Any]:
    """A decoder of a service call's body: every field of `CdsRequest`, by name and by alias (it accepts both),
    its prefetch values as `prefetch_value`; fields it does not know are ignored, as it ignores them."""
    names = {name for key, field in CdsRequest.model_fields.items() for name in (key, field.alias or key)}
    fields: list[tuple[str, Any, Any]] = [(name, Any, msgspec.UNSET) for name in sorted(names - {"prefetch"})]
    fields.append(("prefetch", dict[str, prefetch_value] | None | msgspec.UnsetType, msgspec.UNSET))
    return msgspec.json.Decoder(msgspec.defstruct("CdsRequestText", fields))


_CHECKED = _envelope(PREFETCH_VALUE)  # the usual call: one pass, every prefetch value read into its shape
_ENVELOPE = _envelope(msgspec.Raw)  # else its prefetch values left as text, read one by one
# What the fast path cannot read leaves it for orjson (`json_body`), which reads or refuses it as before:
# a malformed part, a nesting deeper than msgspec's recursion allows.
_READ_WHOLE = (msgspec.MsgspecError, RecursionError)


def request_body(body: bytes) -> tuple[object, frozenset[str]]:
    """A service call's JSON body, and the prefetch keys whose values were read straight into checked resources
    (`fhirapp.shapes.prefetch_value_decode`: one pass over the text, only the fields we read). A value that does
    not pass is parsed whole, for the snapshot to check resource by resource; a body that is not an object with
    an object or null prefetch is parsed whole too (`json_body`), for `CdsRequest` to name what is wrong."""
    if not _utf8(body):  # JSON text is UTF-8 (RFC 8259); msgspec does not look inside the fields it skips
        return json_body(body), frozenset()
    try:
        envelope = _CHECKED.decode(body)
    except _READ_WHOLE:
        return _by_value(body)
    checked = frozenset(envelope.prefetch) if isinstance(envelope.prefetch, dict) else frozenset()
    return _payload(envelope), checked


def _utf8(body: bytes) -> bool:
    try:
        return body.isascii() or bool(body.decode())
    except UnicodeDecodeError:
        return False


def _by_value(body: bytes) -> tuple[object, frozenset[str]]:
    """`request_body` when a prefetch value (or the body) does not pass: value by value, or the body whole."""
    try:
        envelope = _ENVELOPE.decode(body)
    except _READ_WHOLE:
        return json_body(body), frozenset()
    payload = _payload(envelope)
    if isinstance(envelope.prefetch, dict):
        payload["prefetch"], checked = _prefetch_read(envelope.prefetch)
        return payload, checked
    return payload, frozenset()


def _payload(envelope: Any) -> dict[str, Any]:
    return {f: v for f in envelope.__struct_fields__ if (v := getattr(envelope, f)) is not msgspec.UNSET}


def _prefetch_read(texts: dict[str, msgspec.Raw]) -> tuple[dict[str, Any], frozenset[str]]:
    """Each prefetch value read into checked resources, else parsed whole; the keys read into checked ones."""
    values: dict[str, Any] = {}
    checked = []
    for key, text in texts.items():
        try:
            values[key] = prefetch_value_decode(text)
            checked.append(key)
        except _READ_WHOLE:
            values[key] = json_body(memoryview(text))
    return values, frozenset(checked)


def cds_service_call(*, service_id: str, body: bytes, caller: CdsCaller, started: float) -> CdsAnswer:
    """Answer `POST /cds-services/{service_id}`; `started` is the call's time.monotonic() (budget start).

    Our database down (or dropping the connection) in the middle: see `degraded_answer`.
    """
    service = cds_services().get(service_id)
    if service is None:
        raise CdsServiceNotFound(extra={"service": service_id[:100]})
    setting = cds_service_setting(service_id)
    payload, checked = request_body(body)
    try:
        return CdsAnswer(_answer(service, payload, caller, setting, started, checked), payload)
    except DATABASE_ERRORS as exc:
        return CdsAnswer(degraded_answer(service, setting, exc), payload)


def degraded_answer(service: CdsServiceDefinition, setting: CdsServiceSetting, exc: Exception) -> dict[str, Any]:
    """Our database is down: no score may be served, since none can be audited or recorded ("audit every
    inference"). A verified caller gets 200 with one info card saying so (CDS Hooks 2.0: 200 carries the cards the
    user sees; what an EHR does with a 5xx is not specified, and most show nothing, which a clinician reads as
    no alert). A service set to show no card when not scored re-raises: 503 in the error shape."""
    if setting.not_scored == CdsServiceSetting.NotScored.NONE:
        raise exc
    DEGRADED.inc()
    logger.warning("database unavailable: degraded answer for %s, no score given", service.id, exc_info=exc)
    card = card_builders.degraded_card(
        title=service.title,
        model_name=service.model_name,
        model_version=service.model_version,
        model_card_url=model_card_url(service.model_name, service.model_version),
    )
    return CdsResponse(cards=[card]).to_json()


def _answer(
    service: CdsServiceDefinition,
    payload: object,
    caller: CdsCaller,
    setting: CdsServiceSetting,
    started: float,
    checked: frozenset[str],
) -> dict[str, Any]:
    call = call_parse(service, payload, caller, checked=checked)
    with audit_batch() as audits:  # the score and card_issued records: one transaction, one chain lock
        data, results = cds_service_score(service, call, started=started, as_of=timezone.now())
        if data.unavailable:
            cards = _unavailable_cards(service, data, setting)
        else:
            cards = _result_cards(service, results, data, setting)
        _record(call, cards, data, setting, audits)
    return CdsResponse(cards=[card for _, card in cards]).to_json()


def cds_service_score(
    service: CdsServiceDefinition, call: CallContext, *, started: float, as_of: datetime
) -> tuple[PatientSnapshot, list[ScoreResult]]:
    """The call's snapshot (prefetch, then fetch within the budget) and its scores (none when data are
    unavailable): the CDS door into the one pipeline."""
    budget_s = settings.CDS_CALL_BUDGET_MS / 1000
    deadline = started + max(0.0, budget_s - settings.CDS_SCORING_RESERVE_MS / 1000)
    data = snapshot_fetch(
        plan=service.templates,
        patient_id=call.patient_id,
        context=call.request.context,
        prefetch=call.request.prefetch,
        checked=call.checked,
        client=_fhir_client(call.request),
        deadline=deadline,
        as_of=as_of,
    )
    if data.unavailable:
        return data, []
    return data, _score(service, data, as_of, call.patient_id, call.encounter_id)


def _score(
    service: CdsServiceDefinition, data: PatientSnapshot, as_of: datetime, patient_id: str, encounter_id: str | None
) -> list[ScoreResult]:
    """The serving version of this service's model and its shadow versions, on the data this service asked for.

    Not `score_for_hook`: a CDS client sends each service only the prefetch that service requested
    (spec "Prefetch Template": "services SHALL only receive the data they requested"), so scoring the
    hook's other models here would score (and audit) them on data chosen for another model. Shadow
    versions of this model are scored and audited (action "score") but never shown or written back
    (`_result_cards` skips them); scoring audits every inference itself. The hook's encounterId, when sent,
    names the Encounter that encounter-level inputs are read from.
    """
    return score_with_shadows(
        model_name=service.model_name,
        resources=data.resources,
        as_of=as_of,
        patient_id=patient_id,
        encounter_id=encounter_id,
    )


def call_parse(
    service: CdsServiceDefinition, payload: object, caller: CdsCaller, *, checked: frozenset[str] = frozenset()
) -> CallContext:
    """Validate a request body for `service` (400 naming the problem) into the call's context; `checked`: the
    prefetch keys whose values `request_body` read into checked resources."""
    request = CdsRequest.model_validate(payload)
    if request.hook != service.hook:
        raise ValidationFailed(f"This service answers the {service.hook} hook, not {request.hook[:60]}.")
    context = HOOK_CONTEXTS[service.hook].model_validate(request.context)
    token_patient = request.fhir_authorization.patient if request.fhir_authorization else None
    if token_patient and token_patient != context.patient_id:
        raise ValidationFailed("fhirAuthorization.patient does not match context.patientId.")
    fhir_server_check(request.fhir_server, caller, service_id=service.id)
    return CallContext(
        service=service,
        request=request,
        patient_id=context.patient_id,
        encounter_id=context.encounter_id,
        user_id=context.user_id,
        caller=caller,
        checked=checked,
    )


def fhir_server_check(fhir_server: str | None, caller: CdsCaller, *, service_id: str) -> None:
    """A hook's `fhirServer` must be one of the calling client's registered FHIR bases: otherwise the call
    is refused (403, audited) before anything is fetched from it or written back to it."""
    if fhir_server is None or fhir_base_normalize(fhir_server) in caller.fhir_servers:
        return
    audit_record_create(
        action=AuditRecord.Action.CDS_AUTH_FAILURE,
        outcome=AuditRecord.Outcome.DENIED,
        actor=f"cds:{caller.iss}",
        detail={
            "reason": "fhirServer not registered for this client",
            "fhirServer": fhir_server[:300],
            "service": service_id,
        },
    )
    raise FhirServerNotRegistered(extra={"fhirServer": fhir_server[:300]})


def _fhir_client(request: CdsRequest) -> FhirClient | None:
    if not request.fhir_server or request.fhir_authorization is None:
        return None
    return FhirClient(request.fhir_server, request.fhir_authorization.access_token, timeout=5.0)


def data_note(service: CdsServiceDefinition, data: PatientSnapshot) -> str:
    """Where each kind of data came from, in words (part of every card's detail)."""
    groups: dict[str, list[str]] = {}
    words = {
        "prefetch": "prefetched by the EHR",
        "prefetch+fetched": "prefetched (remaining pages fetched)",
        "fetched": "fetched from the EHR's FHIR server",
        "prefetch-null": "none on record",
    }
    for tpl in service.templates:
        source = data.sources.get(tpl.key)
        if source in words:
            groups.setdefault(words[source], []).append(tpl.label)
    parts = [f"{', '.join(labels)} {how}" for how, labels in groups.items()]
    parts += [f"{_label(service, key)} incomplete (paged result without FHIR access)" for key in data.incomplete]
    if data.unusable:
        parts.append(f"{len(data.unusable)} malformed resource(s) set aside as unusable, e.g. {data.unusable[0][:160]}")
    return "; ".join(parts) + "." if parts else "no data."


def _label(service: CdsServiceDefinition, key: str) -> str:
    return next((t.label for t in service.templates if t.key == key), key)


def _unavailable_cards(
    service: CdsServiceDefinition, data: PatientSnapshot, setting: CdsServiceSetting
) -> list[tuple[ScoreResult | None, Card]]:
    if setting.not_scored == CdsServiceSetting.NotScored.NONE:
        return []
    unavailable = {_label(service, key): why for key, why in data.unavailable.items()}
    card = card_builders.unavailable_card(
        title=service.title,
        model_name=service.model_name,
        model_version=service.model_version,
        model_line=card_builders.model_line(
            service.model_name, service.model_version, service.kind, service.model_sha256
        ),
        model_card_url=model_card_url(service.model_name, service.model_version),
        unavailable=unavailable,
        budget_ms=settings.CDS_CALL_BUDGET_MS,
        data_note=data_note(service, data),
    )
    return [(None, card)]


def _result_cards(
    service: CdsServiceDefinition, results: Sequence[ScoreResult], data: PatientSnapshot, setting: CdsServiceSetting
) -> list[tuple[ScoreResult | None, Card]]:
    """Cards for results; shadow models never produce one, not-scored ones per the service setting."""
    note = data_note(service, data)
    cards: list[tuple[ScoreResult | None, Card]] = []
    for result in results:
        if result.model_status == ModelVersion.Status.SHADOW:
            continue
        url = model_card_url(result.model_name, result.model_version)
        if result.scored:
            cards.append((result, card_builders.risk_card(result, model_card_url=url, data_note=note)))
        elif setting.not_scored == CdsServiceSetting.NotScored.CARD:
            cards.append((result, card_builders.not_scored_card(result, model_card_url=url, data_note=note)))
    return cards


def _record(
    call: CallContext,
    cards: Sequence[tuple[ScoreResult | None, Card]],
    data: PatientSnapshot,
    setting: CdsServiceSetting,
    audits: AuditBatch,
) -> None:
    """Store and audit every issued card and enqueue write-backs: all or nothing (scores audit themselves).

    The audit records collected so far (the scores') are written in this transaction too. If it fails,
    the card records are dropped with their cards and the score records stay pending: `audit_batch`
    writes them on its way out, so every inference is still audited.
    """
    actor = f"cds:{call.caller.iss}"
    detail = {
        "service": call.service.id,
        "hook": call.service.hook,
        "hookInstance": call.request.hook_instance[:200],
        "user": call.user_id[:200],
        "sources": data.sources,
        "unavailable": data.unavailable,
        "unusable": data.unusable[:20],
    }
    kept = len(audits.pending)
    try:
        with transaction.atomic():
            caller_claim(call.caller)  # first: a replayed token writes nothing (cds_hooks.replay)
            for result, card in cards:
                _issue(call, result, card, actor, detail)
                if result is not None and result.scored and setting.write_back and call.request.fhir_server:
                    _write_back(call, result, card)
            audits.flush()
    except BaseException:
        audits.discard_from(kept)
        raise


def _issue(call: CallContext, result: ScoreResult | None, card: Card, actor: str, detail: dict[str, Any]) -> None:
    service = call.service
    if card.uuid is None:  # every card cards.py builds has one
        raise ValueError("an issued card needs a uuid")
    IssuedCard.objects.create(
        uuid=card.uuid,
        service_id=service.id,
        hook=service.hook,
        hook_instance=call.request.hook_instance[:200],
        client_iss=call.caller.iss,
        patient_pseudonym=pseudonymize(call.patient_id),
        patient_ref_encrypted=encrypt_text(call.patient_id),
        encounter_id=(call.encounter_id or "")[:200],
        model_name=service.model_name,
        model_version=result.model_version if result else service.model_version,
        scored=bool(result and result.scored),
        probability=result.probability if result else None,
        points=result.points if result else None,
        band=(result.band or "") if result else "",
        indicator=card.indicator,
        summary=card.summary,
        as_of=result.as_of if result else timezone.now(),
    )
    audit_record_create(
        action="card_issued",
        actor=actor,
        patient_id=call.patient_id,
        model_name=service.model_name,
        model_version=result.model_version if result else service.model_version,
        output_summary={"card": card.uuid, "indicator": card.indicator, "summary": card.summary},
        detail=detail,
    )


def _write_back(call: CallContext, result: ScoreResult, card: Card) -> None:
    """Write the assessment back when it is new information; the card says what the chart holds."""
    decision = write_back_submit(
        result=result,
        patient_id=call.patient_id,
        encounter_id=call.encounter_id,
        fhir_base_url=call.request.fhir_server or "",
        source=WriteBack.Source.CDS,
        service_id=call.service.id,
        hook_instance=call.request.hook_instance,
    )
    if decision is not None:
        card.detail = f"{card.detail}\n\n**Chart:** {decision.note}"
