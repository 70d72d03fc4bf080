"""Reads of the scoring registry: which model versions serve a hook, what they need, where their card is."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse

from config.ttl_cache import TtlCache
from scoring.catalogue import DataRequirements, definition, definitions, hook_definitions
from scoring.models import ModelChange, ModelVersion, PromotionRequest, ThresholdPolicy

SERVING_STATUSES = (ModelVersion.Status.ACTIVE, ModelVersion.Status.CANARY, ModelVersion.Status.SHADOW)


@dataclass(frozen=True, slots=True)
class ModelBinding:
    """A registered model version bound to hooks, with the data every door fetches for it."""

    name: str
    title: str
    version: str
    sha256: str
    kind: str
    status: str
    hooks: tuple[str, ...]
    requirements: DataRequirements
    description: str


def _binding(mv: ModelVersion) -> ModelBinding | None:
    model = definition(mv.name)
    if model is None:  # a registered version of a model the catalogue no longer has serves nothing
        return None
    return ModelBinding(
        mv.name, mv.title, mv.version, mv.sha256, mv.kind, mv.status, model.hooks, model.requirements, model.description
    )


def hook_models(hook: str) -> list[ModelBinding]:
    """Every serving (active, canary, shadow) model version bound to `hook`, in display order."""
    names = [m.name for m in hook_definitions(hook)]
    rows = ModelVersion.objects.filter(name__in=names, status__in=SERVING_STATUSES)
    ranked = sorted(rows, key=lambda mv: (names.index(mv.name), SERVING_STATUSES.index(mv.status), mv.version))
    return [b for b in map(_binding, ranked) if b is not None]


def hook_requirements(hook: str) -> list[DataRequirements]:
    """What the models bound to `hook` read (the sidebar fetches all of it at once)."""
    return [m.requirements for m in hook_definitions(hook)]


def model_card_url(name: str, version: str) -> str:
    """Absolute URL of the HTML model card."""
    path = reverse("scoring:model_card", kwargs={"name": name, "version": version})
    return f"{settings.PUBLIC_BASE_URL}{path}"


STATUS_ORDER = (*SERVING_STATUSES, ModelVersion.Status.RETIRED)


def model_versions_all() -> list[ModelVersion]:
    """Every registered version: models in product order, then serving before retired, newest first."""
    rows = list(ModelVersion.objects.order_by("-registered_at"))
    known = {m.name: i for i, m in enumerate(definitions())}
    return sorted(
        rows,
        key=lambda mv: (
            known.get(mv.name, len(known)),
            mv.name,
            STATUS_ORDER.index(mv.status) if mv.status in STATUS_ORDER else len(STATUS_ORDER),
        ),
    )


def model_version_get(name: str, version: str) -> ModelVersion | None:
    """One registered version, or None."""
    return ModelVersion.objects.filter(name=name, version=version).first()


def in_canary(patient_id: str, percent: int) -> bool:
    """Deterministic canary bucket of a patient (same patient, same answer)."""
    bucket = int.from_bytes(hashlib.sha256(patient_id.encode()).digest()[:2], "big") % 100
    return bucket < percent


# Per-process cache of each model's serving rows (with policy) and whether any version is registered:
# two queries less per scored call. Saves and deletes in this process clear it at once (signals below);
# other workers see a change within the TTL. Never used inside a transaction, which must see its own writes.
SERVING_CACHE_TTL_SECONDS = 5.0
_SERVING: TtlCache[str, tuple[list[ModelVersion], bool]] = TtlCache(SERVING_CACHE_TTL_SECONDS)


def serving_cache_clear(**_: Any) -> None:
    """Forget the cached serving rows (on every registry save/delete; tests)."""
    _SERVING.clear()


for _model in (ModelVersion, ThresholdPolicy):
    receiver(post_save, sender=_model, dispatch_uid=f"serving_cache_clear_save_{_model.__name__}")(serving_cache_clear)
    receiver(post_delete, sender=_model, dispatch_uid=f"serving_cache_clear_delete_{_model.__name__}")(
        serving_cache_clear
    )


def _serving_query(name: str) -> tuple[list[ModelVersion], bool]:
    rows = list(ModelVersion.objects.filter(name=name, status__in=SERVING_STATUSES).select_related("policy"))
    return rows, bool(rows) or ModelVersion.objects.filter(name=name).exists()


def _serving_rows(name: str) -> tuple[list[ModelVersion], bool]:
    """(serving versions of `name` with their policy, whether any version of `name` is registered)."""
    if connection.in_atomic_block:  # a transaction must see its own writes
        return _serving_query(name)
    return _SERVING.get(name, lambda: _serving_query(name))


def model_registered(name: str) -> bool:
    """Whether any version of `name` is registered (cached with the serving rows)."""
    return _serving_rows(name)[1]


def serving_versions(name: str, patient_id: str) -> list[ModelVersion]:
    """The version that answers for this patient (active, or canary for the canary bucket) plus shadows."""
    rows = _serving_rows(name)[0]
    active = next((mv for mv in rows if mv.status == ModelVersion.Status.ACTIVE), None)
    canary = next((mv for mv in rows if mv.status == ModelVersion.Status.CANARY), None)
    percent = int(getattr(settings, "SCORING_CANARY_PERCENT", 10))
    primary = canary if canary is not None and (active is None or in_canary(patient_id, percent)) else active
    shadows = [mv for mv in rows if mv.status == ModelVersion.Status.SHADOW]
    return ([primary] if primary is not None else []) + shadows


def change_log(name: str, limit: int = 50) -> list[ModelChange]:
    """The change log of model `name` (every version), newest first."""
    return list(
        ModelChange.objects.filter(model_version__name=name)
        .select_related("model_version")
        .order_by("-changed_at")[:limit]
    )


def promotion_requests_of(mv: ModelVersion) -> list[PromotionRequest]:
    """Promotion requests with `mv` as the challenger, newest first."""
    return list(mv.promotion_requests.select_related("champion").order_by("-requested_at"))
