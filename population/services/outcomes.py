"""Outcome collection from a registered EHR over FHIR: the outcomes the performance monitors label scores with.

Reads, with SMART Backend Services tokens for the EHR's registration (`smart_launch.backend`), the searches
each model's outcome needs (`scoring.monitoring.outcomes_fhir.fhir_searches`: Conditions with the catalogue's
outcome code, inpatient Encounters), converts what it found and stores it by pseudonym, all at once
(`scoring.monitoring.outcomes.outcomes_store`). Lives with the population door: both read an EHR in the
background on the system's own authority. Run by `manage.py collect_outcomes` and the daily Celery task
`population.outcomes_collect`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from config.errors import ValidationFailed
from fhirapp.client import FhirClient
from scoring.catalogue import definition_of, definitions
from scoring.models import OutcomeImport
from scoring.monitoring.outcomes import outcomes_store
from scoring.monitoring.outcomes_fhir import fhir_outcomes, fhir_searches
from smart_launch.backend import backend_access_token
from smart_launch.models import EhrRegistration

COLLECT_ACTOR = "stratify:outcomes"


def _client(iss: str, types: set[str]) -> FhirClient:
    scope = " ".join(f"system/{t}.read" for t in sorted(types))
    return FhirClient(iss, backend_access_token(iss=iss, scope=scope), timeout=settings.OUTCOMES_HTTP_TIMEOUT)


def outcomes_collect(
    *, iss: str, model_name: str, since: datetime | None = None, actor: str = COLLECT_ACTOR
) -> OutcomeImport:
    """Collect one model's outcomes recorded at the EHR `iss` since `since` (default: as far back as served
    inferences are kept, MONITORING_RETENTION_DAYS)."""
    if not EhrRegistration.objects.filter(iss=iss).exists():
        raise ValidationFailed(f"No EHR is registered with iss {iss[:200]!r}.")
    if definition_of(model_name).kind != "ml":
        raise ValidationFailed(f"Model {model_name!r} is a rule score; outcomes are collected for ML models.")
    now = timezone.now()
    searches = fhir_searches(model_name, since or now - timedelta(days=settings.MONITORING_RETENTION_DAYS))
    client = _client(iss, {t for t, _ in searches})
    found: dict[str, list[dict[str, Any]]] = {t: client.search(t, params) for t, params in searches}
    items = fhir_outcomes(model_name, iss, found, now)
    return outcomes_store(kind=OutcomeImport.Kind.FHIR, source=iss, items=items, actor=actor)


def outcomes_collect_all(*, actor: str = COLLECT_ACTOR) -> list[OutcomeImport]:
    """Every ML model's outcomes from every registered EHR (the daily task)."""
    models = [m.name for m in definitions() if m.kind == "ml"]
    return [
        outcomes_collect(iss=iss, model_name=name, actor=actor)
        for iss in EhrRegistration.objects.order_by("iss").values_list("iss", flat=True)
        for name in models
    ]
