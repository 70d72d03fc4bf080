"""Reads of cds_hooks: the CDS service catalogue (from scoring's hook bindings), issued cards, alert burden."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from cds_hooks.models import CdsServiceSetting, IssuedCard
from config.errors import DATABASE_ERRORS
from config.ttl_cache import TtlCache
from fhirapp.fetch import FhirQuery, fetch_plan
from scoring import selectors as scoring_selectors
from scoring.catalogue import definition
from scoring.models import ModelVersion
from scoring.monitoring.alerts import AlertEvent

SUPPORTED_HOOKS = ("patient-view", "encounter-discharge")
CATALOGUE_TTL_SECONDS = 30.0  # admin changes to bindings reach every worker within this time
_CATALOGUE: TtlCache[str, "_Catalogue"] = TtlCache(CATALOGUE_TTL_SECONDS, max_entries=1)


@dataclass(frozen=True, slots=True)
class CdsServiceDefinition:
    """One CDS service: a scoring model bound to a hook, with its precomputed prefetch templates."""

    id: str
    hook: str
    model_name: str
    title: str
    description: str
    model_version: str
    model_sha256: str
    kind: str
    templates: tuple[FhirQuery, ...]

    @property
    def prefetch(self) -> dict[str, str]:
        """Discovery's `prefetch` object."""
        return {t.key: t.template for t in self.templates}

    @property
    def extension(self) -> dict[str, Any]:
        """Discovery's `extension`: the model behind the service (rule scores have no artifact sha256)."""
        model = {"name": self.model_name, "version": self.model_version, "kind": self.kind}
        if self.model_sha256:
            model["sha256"] = self.model_sha256
        return {"org.stratify.model": model}


def service_id_for(model_name: str, hook: str) -> str:
    """`stratify-<model>` on the model's primary hook, `stratify-<model>-<hook>` on the others."""
    base = f"stratify-{model_name}"
    model = definition(model_name)
    return base if model is None or hook == model.primary_hook else f"{base}-{hook}"


def _definition(binding: scoring_selectors.ModelBinding, hook: str) -> CdsServiceDefinition:
    return CdsServiceDefinition(
        id=service_id_for(binding.name, hook),
        hook=hook,
        model_name=binding.name,
        title=binding.title,
        description=f"{binding.title} ({binding.kind} model {binding.name} {binding.version}) on {hook}: "
        f"{binding.description}; a card with its drivers, data freshness and a link to the Stratify "
        "sidebar.",
        model_version=binding.version,
        model_sha256=binding.sha256 or "",
        kind=binding.kind,
        templates=fetch_plan([binding.requirements]),
    )


@dataclass(frozen=True, slots=True)
class _Catalogue:
    services: dict[str, CdsServiceDefinition]
    settings: dict[str, CdsServiceSetting]


def _catalogue_build() -> _Catalogue:
    settings_by_id = {s.service_id: s for s in CdsServiceSetting.objects.all()}
    disabled = {sid for sid, s in settings_by_id.items() if not s.enabled}
    services: dict[str, CdsServiceDefinition] = {}
    for hook in SUPPORTED_HOOKS:
        for binding in scoring_selectors.hook_models(hook):
            if binding.status == ModelVersion.Status.SHADOW:
                continue
            definition = _definition(binding, hook)
            if definition.id not in disabled:
                services.setdefault(definition.id, definition)
    return _Catalogue(services, settings_by_id)


def cds_services() -> dict[str, CdsServiceDefinition]:
    """Every enabled service by id (active/canary bindings only), cached per process for a few seconds."""
    return _catalogue().services


def _catalogue() -> "_Catalogue":
    """The cached catalogue; while our database is down, the last one read (a degraded answer needs its titles)."""
    return _CATALOGUE.get("catalogue", _catalogue_build, stale_on=DATABASE_ERRORS)


def cds_catalogue_reset() -> None:
    """Forget the cached catalogue (admin changes, tests)."""
    _CATALOGUE.clear()


def cds_service_setting(service_id: str) -> CdsServiceSetting:
    """The admin setting of a service (read with the catalogue), or the defaults when none was made."""
    found = _catalogue().settings.get(service_id)
    return found or CdsServiceSetting(service_id=service_id)


def issued_card_get(*, card_uuid: str) -> IssuedCard | None:
    """The issued card with this uuid (a SMART link's appContext names it), or None (also for a malformed uuid)."""
    try:
        parsed = uuid.UUID(str(card_uuid))
    except ValueError:
        return None
    return IssuedCard.objects.filter(uuid=parsed).first()


def alert_burden(queryset: QuerySet[IssuedCard] | None = None) -> list[dict[str, Any]]:
    """Issued vs accepted vs overridden vs ignored cards per service, model version and indicator.

    Ignored = no feedback within CDS_FEEDBACK_WINDOW_MINUTES of issue; a younger card without feedback is
    "awaiting" (the clinician may still act on it), never counted as ignored.
    """
    qs = queryset if queryset is not None else IssuedCard.objects.all()
    cutoff = timezone.now() - timedelta(minutes=settings.CDS_FEEDBACK_WINDOW_MINUTES)
    silent = Q(outcome=IssuedCard.Outcome.IGNORED)
    rows = (
        qs.values("service_id", "model_version", "indicator")
        .annotate(
            issued=Count("id"),
            accepted=Count("id", filter=Q(outcome=IssuedCard.Outcome.ACCEPTED)),
            overridden=Count("id", filter=Q(outcome=IssuedCard.Outcome.OVERRIDDEN)),
            ignored=Count("id", filter=silent & Q(issued_at__lte=cutoff)),
            awaiting=Count("id", filter=silent & Q(issued_at__gt=cutoff)),
        )
        .order_by("service_id", "model_version", "indicator")
    )
    return [{**row, "acted_pct": round(100 * (row["accepted"] + row["overridden"]) / row["issued"], 1)} for row in rows]


ALERT_INDICATORS = ("warning", "critical")
_FEEDBACK: dict[str, bool] = {IssuedCard.Outcome.ACCEPTED: True, IssuedCard.Outcome.OVERRIDDEN: False}


def card_alerts(*, model_name: str, model_version: str, since: datetime, until: datetime) -> list[AlertEvent]:
    """The version's scored cards that asked for attention (indicator warning or critical) issued in
    [since, until), with their feedback: the CDS door's alert source for the performance monitors
    (`scoring.monitoring.alerts`)."""
    cards = IssuedCard.objects.filter(
        model_name=model_name,
        model_version=model_version,
        scored=True,
        indicator__in=ALERT_INDICATORS,
        issued_at__gte=since,
        issued_at__lt=until,
    ).values_list("patient_pseudonym", "as_of", "issued_at", "outcome")
    return [AlertEvent(p, as_of, issued, _FEEDBACK.get(outcome)) for p, as_of, issued, outcome in cards]
