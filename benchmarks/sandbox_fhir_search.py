"""Sandbox FHIR server: latency of the CDS-style Observation search (one patient + categories + date window).

Runs in-process through Django's test client against the current settings' database, which must hold
the sandbox data (`make demo`, or `migrate` + `load_sandbox_data`). Picks the PhysioNet patient with
the most Observations, asks for its vital signs and labs of the last `--hours` hours in one page
(`_count=1000`) and prints the number of resources, the response size and p50/p99 over `--requests`
sequential requests (authentication, search, Bundle serialization included; no network).

    .venv/bin/python benchmarks/sandbox_fhir_search.py [--requests 200] [--hours 72]
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--hours", type=float, default=72.0)
    args = parser.parse_args()
    import django

    django.setup()
    import logging

    logging.getLogger("stratify.sandbox_fhir").setLevel(logging.WARNING)  # one INFO line per request otherwise
    from django.db.models import Count, Max
    from django.test import Client

    from sandbox_ehr.auth.services import access_token_issue
    from sandbox_ehr.fhir.models import FhirResource

    top = (
        FhirResource.objects.filter(resource_type="Observation", patient_id__startswith="physionet-")
        .values("patient_id")
        .annotate(n=Count("id"), last=Max("date_start"))
        .order_by("-n")
        .first()
    )
    if top is None:
        sys.exit("No PhysioNet Observations: run `manage.py load_sandbox_data` first.")
    since = (top["last"] - timedelta(hours=args.hours)).isoformat().replace("+00:00", "Z")
    query = urlencode(
        {"patient": top["patient_id"], "category": "vital-signs,laboratory", "date": f"ge{since}", "_count": "1000"}
    )
    token = access_token_issue(client_id="benchmark", scope="system/Observation.rs", expires_in=600)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = f"/sandbox/fhir/Observation?{query}"
    first = client.get(url)
    assert first.status_code == 200, first.content[:300]
    entries = len(first.json().get("entry", []))
    timings = []
    for _ in range(args.requests):
        started = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(f"database: {django.db.connection.vendor}; patient {top['patient_id']} ({top['n']} Observations stored)")
    print(
        f"search: {entries} Observations in {len(first.content) / 1024:.0f} KiB; "
        f"p50 {statistics.median(timings):.1f} ms, p99 {p99:.1f} ms over {args.requests} requests"
    )


if __name__ == "__main__":
    main()
