"""Reads of patient-level population data, audited as every access to patient data is.

Each surface that shows a cohort's worklist rows (the API's rows, the worklist page, its CSV export) writes one
"population_worklist" record per read, with the same fields: who, the cohort, the run, the model, how many rows
(patients) it showed, and through which surface. The dashboard shows counts only, and a row's drill-down opens the
patient's chart at the EHR, whose sidebar audits its own view.
"""

from __future__ import annotations

from audit.models import AuditRecord
from audit.services import audit_record_create
from population.models import Cohort, PopulationRun
from population.selectors import WorklistFilter


def worklist_read_audit(
    *, actor: str, cohort: Cohort, run: PopulationRun | None, wanted: WorklistFilter, rows: int, via: str
) -> None:
    """Record one read of worklist rows: `rows` patients' results of `run`, through `via` ("api", "page", "csv")."""
    audit_record_create(
        action=AuditRecord.Action.POPULATION_WORKLIST,
        actor=actor,
        purpose_of_use="TREAT",
        detail={"cohort": cohort.slug, "run": run.pk if run else None, "model": wanted.model, "rows": rows, "via": via},
    )
