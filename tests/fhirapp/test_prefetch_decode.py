"""A CDS call's prefetch read straight into checked shapes (`fhirapp.shapes.prefetch_value_decode`, the fast path)
gives the snapshot exactly what parsing it whole and checking each resource gives (the slow path): the same
resources with the same values in every field a reader reads, the same notes, the same refusals."""

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_hooks.schemas import CdsRequest
from cds_hooks.services.calls import request_body
from config.errors import ApplicationError, ValidationFailed
from fhirapp.fetch import FhirQuery, snapshot_fetch
from fhirapp.shapes import _BY_TYPE, Resource, prefetch_value_decode
from tests.cds_hooks.conftest import physionet_stay_resources
from tests.cds_hooks.test_fuzz import FUZZ, prefetch_values

KEYS = ("patient", "vitals", "labs")
PLAN = tuple(FhirQuery(key, f"Observation?patient=p1&k={key}", key) for key in KEYS)
AS_OF = datetime(2026, 12, 6, tzinfo=UTC)


def _body(prefetch: dict[str, Any]) -> bytes:
    context = {"userId": "Practitioner/1", "patientId": "p1"}
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": prefetch}
    return msgspec.json.encode(body)  # orjson refuses integers past 64 bits


def _read(prefetch: Any, checked: frozenset[str]) -> Any:
    """The snapshot's resources (each as the fields we read), notes and sources; or the refusal."""
    try:
        snapshot = snapshot_fetch(
            plan=PLAN,
            patient_id="p1",
            context={},
            client=None,
            deadline=0.0,
            as_of=AS_OF,
            prefetch=prefetch,
            checked=checked,
        )
    except ApplicationError as exc:
        return type(exc).__name__, exc.message, exc.extra
    return [_read_fields(r) for r in snapshot.resources], snapshot.unusable, snapshot.sources, snapshot.incomplete


def _read_fields(resource: dict[str, Any]) -> Any:
    shape = _BY_TYPE.get(resource["resourceType"], Resource)
    return msgspec.to_builtins(msgspec.convert(resource, shape, strict=True))


@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_the_fast_path_reads_what_the_slow_path_reads(data: st.DataObject) -> None:
    real = physionet_stay_resources(last_rows=2)
    prefetch = {key: data.draw(prefetch_values(real)) for key in KEYS}
    body = _body(prefetch)
    if b"\\u0000" in body:  # refused whole before any view reads it (config.middleware.RejectNulMiddleware)
        return
    payload, checked = request_body(body)
    assert isinstance(payload, dict)
    assert _read(payload["prefetch"], checked) == _read(orjson.loads(body)["prefetch"], frozenset())


def test_a_real_prefetch_takes_the_fast_path_and_keeps_only_what_is_read() -> None:
    real = physionet_stay_resources(last_rows=6)
    observations = [r for r in real if r["resourceType"] == "Observation"]
    patient = next(r for r in real if r["resourceType"] == "Patient")
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in observations]}
    payload, checked = request_body(_body({"patient": patient, "vitals": bundle, "labs": None}))
    assert checked == {"patient", "vitals", "labs"}
    assert isinstance(payload, dict)
    first = payload["prefetch"]["vitals"]["entry"][0]["resource"]
    assert "subject" not in first and "meta" not in first  # no reader reads them
    assert first["valueQuantity"]["value"] == observations[0]["valueQuantity"]["value"]
    assert type(first["valueQuantity"]["value"]) is type(observations[0]["valueQuantity"]["value"])


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"resourceType": "Observation", "valueQuantity": {"value": True}}, "got `bool`"),
        (
            {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "birthDate": "0001-01-01"}}]},
            "regex",
        ),
        ({"id": "no-type"}, "missing required field `resourceType`"),
    ],
)
def test_a_value_that_does_not_pass_is_read_whole_for_the_slow_path(value: Any, why: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=why):
        prefetch_value_decode(orjson.dumps(value))
    payload, checked = request_body(_body({"patient": None, "vitals": value, "labs": None}))
    assert checked == {"patient", "labs"} and isinstance(payload, dict)
    assert payload["prefetch"]["vitals"] == value


def test_a_number_past_64_bits_is_read_as_orjson_reads_it() -> None:
    value = {"resourceType": "Observation", "valueQuantity": {"value": 2**70}}
    with pytest.raises(msgspec.ValidationError, match="<= 9223372036854775807"):
        prefetch_value_decode(msgspec.json.encode(value))
    payload, checked = request_body(_body({"vitals": value}))
    assert checked == frozenset() and isinstance(payload, dict)
    assert payload["prefetch"]["vitals"]["valueQuantity"]["value"] == float(2**70)  # orjson: a float past 64 bits


@pytest.mark.parametrize(
    "body",
    [
        b'{"hook": "patient-view", "prefetch": {"p": {"resourceType": "Patient", "gender": "\xff"}}}',  # read field
        b'{"hook": "patient-view", "prefetch": {"p": {"resourceType": "Patient", "photo": "\xc0\x80"}}}',  # unread one
        b'{"hook": "patient-view", "extension": ' + b"[" * 1100 + b"]" * 1100 + b"}",  # deeper than orjson reads
    ],
)
def test_json_we_cannot_read_is_a_400_as_before(body: bytes) -> None:
    with pytest.raises(ValidationFailed, match="not valid JSON"):
        request_body(body)


def test_a_deep_value_orjson_reads_is_read_whole() -> None:
    deep = b"[" * 1000 + b"]" * 1000
    payload, checked = request_body(
        b'{"hook": "patient-view", "prefetch": {"p": ' + deep + b'}, "extension": ' + deep + b"}"
    )
    assert checked == frozenset() and isinstance(payload, dict) and isinstance(payload["prefetch"]["p"], list)


def test_fields_by_name_are_read_as_by_alias() -> None:
    body = b'{"hook": "patient-view", "hook_instance": "h1", "context": {"patientId": "p1"}, "fhir_server": "https://ehr.example/fhir"}'
    payload, _ = request_body(body)
    request = CdsRequest.model_validate(payload)
    assert (request.hook_instance, request.fhir_server) == ("h1", "https://ehr.example/fhir")
