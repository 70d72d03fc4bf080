"""Every read of patient-level population data is audited alike: the worklist page, its CSV export and the API's
rows each write one "population_worklist" record with the same fields; the dashboard shows counts only."""

from typing import Any

import pytest

from audit.models import AuditRecord
from population.services import runs
from tests.population.conftest import group_client

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _reads() -> list[tuple[str, dict[str, Any]]]:
    """(group of the reader, detail) of each worklist read, oldest first (users are named user-<group>-<n>)."""
    rows = AuditRecord.objects.filter(action="population_worklist").order_by("pk")
    return [(r.actor.split("-")[1], r.detail) for r in rows]


def test_the_page_its_csv_and_the_api_audit_each_read_of_rows_alike(ehr: dict[str, Any]) -> None:
    run = runs.run_start(cohort=ehr["cohort"], since="full")
    clinician, auditor = group_client("clinician"), group_client("auditor")
    assert clinician.get("/population/icu/dashboard").status_code == 200  # counts per band and unit: no patient
    assert clinician.get("/population/icu/progress.json").status_code == 200
    assert _reads() == []

    assert clinician.get("/population/icu/", {"model": "news2"}).status_code == 200
    exported = clinician.get("/population/icu/worklist.csv", {"model": "qsofa"})
    assert len(exported.getvalue().splitlines()) == 1 + 4  # a header and 4 patients
    api = clinician.get("/api/population/cohorts/icu/worklist", {"model": "sepsis", "page_size": "3"})
    assert api.status_code == 200
    assert auditor.get("/population/icu/").status_code == 200  # the page shows auditors the rows too

    fields = {"cohort": "icu", "run": run.pk}
    assert _reads() == [
        ("clinician", {**fields, "model": "news2", "rows": 4, "via": "page"}),
        ("clinician", {**fields, "model": "qsofa", "rows": 4, "via": "csv"}),
        ("clinician", {**fields, "model": "sepsis", "rows": 3, "via": "api"}),
        ("auditor", {**fields, "model": "sepsis", "rows": 4, "via": "page"}),
    ]
