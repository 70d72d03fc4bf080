"""Launch-to-rendered time of the SMART EHR launch against the sandbox EHR (goal: <= 1.0 s); prints figures.

Needs a running server with the demo data (`make demo`, or any `runserver` on the same database).
The script sets Django up on the same settings/database to mint EHR launch values exactly as the
sandbox EHR simulator does, then drives each launch like a browser over HTTP:
/smart/launch -> sandbox authorize -> /smart/callback (code exchange with private_key_jwt, id_token
check) -> /smart/app (FHIR reads with the clinician's token, scoring, trend, page). The first launch
warms caches (discovery, JWKS, models) and is reported separately.

    .venv/bin/python benchmarks/smart_launch.py [--base-url http://127.0.0.1:8000] [--runs 20] [--patient ID]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

GOAL_SECONDS = 1.0


def _setup(base_url: str) -> None:
    os.environ["PUBLIC_BASE_URL"] = base_url
    import django

    django.setup()


def _a_patient(base_url: str) -> str:
    """A sandbox patient with recent observations (the first one the FHIR store lists)."""
    from fhirapp.client import FhirClient
    from sandbox_ehr.auth.services import access_token_issue

    token = access_token_issue(client_id="stratify-backend", scope="system/Observation.rs")
    bundle = FhirClient(f"{base_url}/sandbox/fhir", token).search_url("Observation?category=vital-signs&_count=1")
    for entry in bundle.get("entry", []):
        reference = entry["resource"].get("subject", {}).get("reference", "")
        if reference.startswith("Patient/"):
            return reference.split("/", 1)[1]
    raise SystemExit("No sandbox patient with vital signs: run `make demo` (load_sandbox_data) first.")


def _one_launch(base_url: str, patient_id: str) -> dict[str, float]:
    from sandbox_ehr.auth.services import launch_create

    launch = launch_create(patient_id=patient_id)
    browser = requests.Session()
    steps: dict[str, float] = {}
    url = f"{base_url}/smart/launch?iss={base_url}/sandbox/fhir&launch={launch}"
    start = time.perf_counter()
    names = ("launch", "authorize", "callback", "app")
    for name in names:
        t0 = time.perf_counter()
        response = browser.get(url, headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
        steps[name] = time.perf_counter() - t0
        if name != "app":
            if response.status_code != 302:
                raise SystemExit(f"{name} answered {response.status_code}: {response.text[:400]}")
            url = requests.compat.urljoin(url, response.headers["Location"])
    if response.status_code != 200 or "sb-panel" not in response.text and "sb-notice" not in response.text:
        raise SystemExit(f"the sidebar did not render ({response.status_code}): {response.text[:400]}")
    steps["total"] = time.perf_counter() - start
    return steps


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    """Run the launches and print per-step and total figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--patient", default="")
    args = parser.parse_args()
    base_url = args.base_url.rstrip("/")
    _setup(base_url)
    patient_id = args.patient or _a_patient(base_url)
    cold = _one_launch(base_url, patient_id)
    runs = [_one_launch(base_url, patient_id) for _ in range(args.runs)]
    print(f"SMART EHR launch -> rendered sidebar, {base_url}, patient {patient_id}, {args.runs} warm runs")
    print(f"cold (first) launch: {cold['total'] * 1000:.0f} ms")
    print(f"{'step':<10} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for name in ("launch", "authorize", "callback", "app", "total"):
        values = [r[name] for r in runs]
        print(
            f"{name:<10} {statistics.median(values) * 1000:>10.0f} {_pct(values, 0.95) * 1000:>8.0f} "
            f"{max(values) * 1000:>8.0f}"
        )
    median_total = statistics.median(r["total"] for r in runs)
    verdict = "meets" if median_total <= GOAL_SECONDS else "MISSES"
    print(f"goal <= {GOAL_SECONDS:.1f} s: median {median_total:.3f} s {verdict} it")


if __name__ == "__main__":
    main()
