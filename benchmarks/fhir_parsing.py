"""FHIR parsing benchmark: one 500-Observation searchset Bundle, raw JSON (what fhirapp/client.py does) versus
fhirclient's models and fhir.resources' pydantic models. Prints p50/p99 per Bundle and per Observation.

Run: .venv/bin/python benchmarks/fhir_parsing.py [--iterations 200]
fhirclient is not a project dependency: install it into a scratch environment to include it
(`pip install fhirclient==4.4.0`); without it that row says "not installed".
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

VITALS = (
    ("8867-4", "Heart rate", "/min", 92.0),
    ("9279-1", "Respiratory rate", "/min", 18.0),
    ("8310-5", "Body temperature", "Cel", 37.1),
    ("59408-5", "Oxygen saturation", "%", 96.0),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 118.0),
)


def observation(i: int, start: datetime) -> dict[str, Any]:
    """One vital-sign Observation shaped like an EHR's (category, coding, subject, time, quantity)."""
    code, display, unit, base = VITALS[i % len(VITALS)]
    return {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "meta": {"lastUpdated": "2024-03-05T14:30:00Z"},
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "effectiveDateTime": (start + timedelta(minutes=15 * i)).isoformat(),
        "valueQuantity": {"value": base + (i % 7), "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def bundle_bytes(n: int = 500) -> bytes:
    """A searchset Bundle of `n` Observations, as the FHIR server sends it."""
    start = datetime(2024, 3, 1, tzinfo=UTC)
    entries = [
        {
            "fullUrl": f"https://ehr.example/fhir/Observation/obs-{i}",
            "resource": observation(i, start),
            "search": {"mode": "match"},
        }
        for i in range(n)
    ]
    return orjson.dumps({"resourceType": "Bundle", "type": "searchset", "total": n, "entry": entries})


def raw(body: bytes) -> list[tuple[str, float, str]]:
    """fhirapp/client.py's path: decode once, keep match entries, read the few fields scoring needs."""
    bundle = orjson.loads(body)
    resources = [e["resource"] for e in bundle["entry"] if e.get("search", {}).get("mode", "match") == "match"]
    return [(r["code"]["coding"][0]["code"], r["valueQuantity"]["value"], r["effectiveDateTime"]) for r in resources]


def with_fhirclient(body: bytes) -> list[tuple[str, float, str]]:
    """fhirclient's models: every element becomes an object, then the same fields are read."""
    from fhirclient.models.bundle import Bundle  # noqa: TID251  (measured here, not used by the product)

    bundle = Bundle(orjson.loads(body))
    return [
        (e.resource.code.coding[0].code, e.resource.valueQuantity.value, e.resource.effectiveDateTime.isostring)
        for e in bundle.entry
    ]


def with_fhir_resources(body: bytes) -> list[tuple[str, float, str]]:
    """fhir.resources' pydantic R4B models (used by our write-back builders), for scale."""
    from fhir.resources.R4B.bundle import Bundle

    bundle: Any = Bundle.model_validate_json(body)  # entries hold Observation models; typed as Resource
    return [
        (
            e.resource.code.coding[0].code,
            float(e.resource.valueQuantity.value),
            e.resource.effectiveDateTime.isoformat(),
        )
        for e in bundle.entry
    ]


def timed(parse: Callable[[bytes], list[tuple[str, float, str]]], body: bytes, iterations: int) -> list[float]:
    """Milliseconds of each run, after two warm-up runs."""
    parse(body), parse(body)
    runs = []
    for _ in range(iterations):
        started = time.perf_counter()
        parse(body)
        runs.append((time.perf_counter() - started) * 1000)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--observations", type=int, default=500)
    args = parser.parse_args()
    body = bundle_bytes(args.observations)
    print(f"Bundle: {args.observations} Observations, {len(body) / 1024:.0f} KiB; {args.iterations} runs each")
    expected = raw(body)
    for name, parse in (
        ("raw JSON (orjson)", raw),
        ("fhirclient 4 models", with_fhirclient),
        ("fhir.resources R4B", with_fhir_resources),
    ):
        try:
            assert [(c, float(v), t[:16]) for c, v, t in parse(body)] == [(c, v, t[:16]) for c, v, t in expected]
        except ModuleNotFoundError:
            print(f"{name:22s} not installed")
            continue
        runs = sorted(timed(parse, body, args.iterations))
        p50, p99 = statistics.median(runs), runs[int(len(runs) * 0.99) - 1]
        per_observation = p50 * 1000 / args.observations
        print(f"{name:22s} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  ({per_observation:7.1f} us/Observation)")


if __name__ == "__main__":
    main()
