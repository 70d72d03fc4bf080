"""Property-based fuzzing (hypothesis) of the untrusted doors: CDS service calls, CDS feedback, the SMART callback.

Each generated request goes through the whole stack in process (Django's test client, real PostgreSQL and
Redis, the trusted client's JWKS over HTTP, the shipped models): a validly signed JWT, then hostile JSON
where FHIR is expected (resources and Bundle entries that are lists, strings, numbers or objects with
type-confused fields, dates that are not strings or out of range, NUL characters), hostile feedback, and
hostile SMART callback parameters. No answer may be a 5xx. 5,000+ cases per run (counted, not assumed).
"""

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cds_hooks.selectors import cds_services
from tests.cds_hooks.conftest import TokenFactory, physionet_stay_resources

pytestmark = pytest.mark.integration
CDS_CASES, FEEDBACK_CASES, CALLBACK_CASES = 2600, 1200, 1200  # 5,000 generated requests per run
FUZZ = settings(
    deadline=None, database=None, phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck)
)

# --- strategies ----------------------------------------------------------------------------------------
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "\x00",
            "2024-01-01T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "http://loinc.org",
            "8867-4",
            "vital-signs",
            "laboratory",
            "Patient/1",
            "IMP",
            "male",
        ]
    ),
)
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False), TEXT
)
JSON = st.one_of(
    st.sampled_from([None, [], {}, "x", 1, [{}], {"hook": []}]),
    st.recursive(
        SCALAR,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
        max_leaves=6,
    ),
)
FHIR_KEYS = [
    "resourceType",
    "id",
    "status",
    "category",
    "code",
    "coding",
    "system",
    "display",
    "text",
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "issued",
    "valueQuantity",
    "value",
    "unit",
    "component",
    "encounter",
    "context",
    "reference",
    "period",
    "start",
    "end",
    "class",
    "priority",
    "hospitalization",
    "admitSource",
    "dischargeDisposition",
    "partOf",
    "birthDate",
    "gender",
    "deceasedBoolean",
    "deceasedDateTime",
    "name",
    "given",
    "family",
    "recordedDate",
    "onsetDateTime",
    "authoredOn",
    "medicationCodeableConcept",
    "performedDateTime",
    "performedPeriod",
    "entry",
    "resource",
    "search",
    "mode",
    "link",
    "relation",
    "url",
]
TYPES = [
    "Patient",
    "Observation",
    "Encounter",
    "Condition",
    "MedicationRequest",
    "Procedure",
    "Bundle",
    "OperationOutcome",
]
# Hostile values where FHIR has an object, a list, a string, a number or a date (cheap to draw: most come from this
# pool, the rest are small random JSON trees).
POOL: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**64,
    -(2**63),
    1e308,
    "",
    "x",
    "\x00",
    "a\x00b",
    "2024-13-45",
    "2024-05",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2024-01-01T00:00:00Z",
    [],
    [1],
    [[]],
    [None],
    [{}],
    ["x"],
    {},
    {"a": []},
    {"coding": "x"},
    {"coding": [1]},
    {"coding": [{"code": [1], "system": {}}]},
    {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    {"value": True},
    {"value": "7"},
    {"value": [7]},
    {"value": 1e308, "unit": []},
    {"start": 5},
    {"start": "0001-01-01T00:00:00+14:00"},
    {"start": "2024-01-01T00:00:00Z", "end": {}},
    {"reference": {}},
    {"reference": "Encounter/e1"},
    [{"resource": 1}],
    [{"resource": {"resourceType": []}}],
    [{"search": "match"}],
    [{"relation": "next"}],
    {"code": {"a": 1}},
    {"admitSource": []},
    [{"given": "x", "family": []}],
    {"\x00": 1},
]
FHIRISH = st.one_of(
    st.sampled_from(POOL),
    st.sampled_from(POOL),
    st.sampled_from(POOL),
    st.recursive(
        SCALAR,
        lambda inner: st.one_of(
            st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(FHIR_KEYS), inner, max_size=3)
        ),
        max_leaves=4,
    ),
)


@st.composite
def resources(draw: st.DrawFn, real: list[dict[str, Any]]) -> Any:
    """A real resource with some fields replaced by junk, a resource of junk, or something that is no object."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(FHIRISH)
    if choice == 1:
        return {
            "resourceType": draw(st.sampled_from(TYPES)),
            **draw(st.dictionaries(st.sampled_from(FHIR_KEYS), FHIRISH, max_size=4)),
        }
    base = dict(draw(st.sampled_from(real)))
    for key in draw(st.lists(st.sampled_from(FHIR_KEYS), min_size=1, max_size=3)):
        base[key] = draw(FHIRISH)
    return base


@st.composite
def prefetch_values(draw: st.DrawFn, real: list[dict[str, Any]]) -> Any:
    """A prefetch value: null, a resource, a Bundle of (mostly) resources, or junk."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return None
    if choice == 1:
        return draw(resources(real))
    if choice == 2:
        return draw(FHIRISH)
    entries = draw(st.lists(st.one_of(st.builds(lambda r: {"resource": r}, resources(real)), FHIRISH), max_size=4))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if draw(st.booleans()):
        bundle["link"] = draw(st.one_of(FHIRISH, st.just([{"relation": "next", "url": "http://127.0.0.1:9/x"}])))
    return bundle


@st.composite
def cds_calls(draw: st.DrawFn, real: list[dict[str, Any]], services: dict[str, Any]) -> tuple[str, Any]:
    """(service id, body): mostly well-formed calls with hostile prefetch, sometimes hostile everything."""
    service_id = draw(st.sampled_from(sorted(services)))
    service = services[service_id]
    context: Any = {
        "userId": "Practitioner/1",
        "patientId": draw(st.sampled_from(["p1", "", "\x00", "a/b"])),
        "encounterId": draw(st.sampled_from(["e1", "enc-1"])),
    }
    if draw(st.integers(0, 5)) == 0:
        context = draw(JSON)
    prefetch: Any = {t.key: draw(prefetch_values(real)) for t in service.templates}
    if draw(st.integers(0, 5)) == 0:
        prefetch = draw(JSON)
    body: Any = {
        "hook": draw(st.sampled_from([service.hook, service.hook, "patient-view", ""])),
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": prefetch,
    }
    if draw(st.integers(0, 7)) == 0:
        body = draw(JSON)
    return service_id, body


FEEDBACK_ITEM = st.fixed_dictionaries(
    {
        "card": st.one_of(st.uuids().map(str), TEXT),
        "outcome": st.sampled_from(["accepted", "overridden", "", "x"]),
        "outcomeTimestamp": st.one_of(st.just("2024-01-01T00:00:00Z"), TEXT, SCALAR),
    },
    optional={
        "overrideReason": st.one_of(
            JSON,
            st.fixed_dictionaries(
                {"reason": st.fixed_dictionaries({"code": TEXT, "system": TEXT}), "userComment": TEXT}
            ),
        ),
        "acceptedSuggestions": JSON,
    },
)
FEEDBACK = st.one_of(st.fixed_dictionaries({"feedback": st.lists(FEEDBACK_ITEM, min_size=1, max_size=3)}), JSON)
CALLBACK_PARAMS = st.dictionaries(
    st.sampled_from(["code", "state", "error", "error_description", "iss", "launch", "session_state", "x"]),
    TEXT,
    max_size=5,
)


# --- the tests -------------------------------------------------------------------------------------------
def _shown(response: Any) -> str:
    return f"{response.status_code} {response.content[:300]!r}"


@pytest.mark.django_db
def test_cds_service_calls_never_5xx(trusted_client: Any, models_installed: None, make_token: TokenFactory) -> None:
    real = physionet_stay_resources(last_rows=6)
    services, client, seen = cds_services(), Client(), [0]

    @settings(FUZZ, max_examples=CDS_CASES)
    @given(call=cds_calls(real, services))
    def one(call: tuple[str, Any]) -> None:
        service_id, body = call
        path = f"/cds-services/{service_id}"
        response = client.post(
            path,
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {make_token(path)}",
        )
        seen[0] += 1
        assert response.status_code < 500, (body, _shown(response))

    one()
    assert seen[0] >= CDS_CASES, f"only {seen[0]} cases ran"


@pytest.mark.django_db
def test_feedback_never_5xx(trusted_client: Any, models_installed: None, make_token: TokenFactory) -> None:
    client, seen = Client(), [0]

    @settings(FUZZ, max_examples=FEEDBACK_CASES)
    @given(body=FEEDBACK)
    def one(body: Any) -> None:
        path = "/cds-services/stratify-sepsis/feedback"
        response = client.post(
            path,
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {make_token(path)}",
        )
        seen[0] += 1
        assert response.status_code < 500, (body, _shown(response))

    one()
    assert seen[0] >= FEEDBACK_CASES, f"only {seen[0]} cases ran"


@pytest.mark.django_db
def test_smart_callback_never_5xx() -> None:
    client, seen = Client(), [0]

    @settings(FUZZ, max_examples=CALLBACK_CASES)
    @given(params=CALLBACK_PARAMS, accept=st.sampled_from(["text/html", "application/json", "*/*"]))
    def one(params: dict[str, str], accept: str) -> None:
        response = client.get("/smart/callback", params, HTTP_ACCEPT=accept)
        seen[0] += 1
        assert response.status_code < 500, (params, _shown(response))

    one()
    assert seen[0] >= CALLBACK_CASES, f"only {seen[0]} cases ran"
