"""Registry writes: register artifacts and rule scores, change status (rollback), edit the threshold policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import transaction

from audit.models import AuditRecord
from audit.services import audit_record_create
from config.errors import ValidationFailed
from scoring.artifact import CARD_JSON, ONNX_NAME, sha256_file
from scoring.catalogue import definition_of
from scoring.features.spec import SPEC_VERSION
from scoring.models import ModelVersion, ThresholdPolicy, ThresholdPolicyChange
from scoring.serving import registry

POLICY_FIELDS = ("moderate_at", "high_at", "low_indicator", "moderate_indicator", "high_indicator")


def _audit_change(*, actor: str, detail: dict[str, Any], mv: ModelVersion) -> None:
    audit_record_create(
        action=AuditRecord.Action.ADMIN_CHANGE,
        actor=actor,
        model_name=mv.name,
        model_version=mv.version,
        spec_version=mv.spec_version,
        detail=detail,
    )


def _card(folder: Path) -> dict[str, Any]:
    try:
        card: dict[str, Any] = json.loads((folder / CARD_JSON).read_text())
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"No readable {CARD_JSON} in {folder}: {exc}") from exc
    return card


@transaction.atomic
def model_register(*, artifact_dir: str, registered_by: str, status: str = ModelVersion.Status.SHADOW) -> ModelVersion:
    """Register (or re-register, idempotently) the artifact folder of an ML model with its trained policy."""
    folder = registry.resolve_path(artifact_dir)
    card = _card(folder)
    sha = sha256_file(folder / ONNX_NAME) if (folder / ONNX_NAME).is_file() else ""
    if sha != card.get("sha256"):
        raise ValidationFailed(f"{folder / ONNX_NAME} does not match the checksum in its model card.")
    headline: dict[str, Any] = next((v for k, v in card["metrics"].items() if k.startswith("external")), {})
    defaults = {
        "title": card["title"],
        "kind": "ml",
        "sha256": sha,
        "artifact_path": artifact_dir,
        "spec_version": card["spec_version"],
        "card": card,
        "registered_by": registered_by,
        "metrics": {k: headline.get(k) for k in ("auroc", "auprc", "utility", "ece", "brier", "n_rows")},
    }
    mv, created = ModelVersion.objects.get_or_create(name=card["name"], version=card["version"], defaults=defaults)
    if not created:
        for key, value in defaults.items():
            setattr(mv, key, value)
        mv.save()
    th = card["thresholds"]
    ThresholdPolicy.objects.get_or_create(
        model_version=mv,
        defaults={
            "moderate_at": th["moderate"],
            "high_at": th["high"],
            "source": th.get("criterion", "training")[:300],
        },
    )
    if created or mv.status != status:
        model_status_set(mv=mv, status=status, actor=registered_by, reason="registered")
    registry.cache_clear()
    return mv


@transaction.atomic
def rule_register(*, name: str, registered_by: str) -> ModelVersion:
    """Register a rule score (idempotent); it is active unless someone changed its status."""
    model = definition_of(name)
    rule = model.rule
    if rule is None:
        raise ValidationFailed(f"{name} is not a rule score.", extra={"fields": {"name": "not a rule"}})
    mv, created = ModelVersion.objects.get_or_create(
        name=name,
        version=rule.version,
        defaults={
            "title": model.title,
            "kind": ModelVersion.Kind.RULE,
            "spec_version": SPEC_VERSION,
            "registered_by": registered_by,
            "status": ModelVersion.Status.SHADOW,
            "card": {"name": name, "title": model.title, "kind": "rule", "source": rule.source},
        },
    )
    ThresholdPolicy.objects.get_or_create(
        model_version=mv, defaults={"moderate_at": rule.moderate_at, "high_at": rule.high_at, "source": rule.source}
    )
    if created:
        model_status_set(mv=mv, status=ModelVersion.Status.ACTIVE, actor=registered_by, reason="registered")
    return mv


@transaction.atomic
def model_status_set(*, mv: ModelVersion, status: str, actor: str, reason: str) -> ModelVersion:
    """Change a version's status; activating one retires the previous active version (rollback = re-activate)."""
    if status not in dict(ModelVersion._meta.get_field("status").choices or []):
        raise ValidationFailed(f"Unknown status {status!r}.", extra={"fields": {"status": "invalid"}})
    if not reason.strip():
        raise ValidationFailed("A reason is required.", extra={"fields": {"reason": "required"}})
    before = mv.status
    if status in (ModelVersion.Status.ACTIVE, ModelVersion.Status.CANARY):
        ModelVersion.objects.filter(name=mv.name, status=status).exclude(pk=mv.pk).update(
            status=ModelVersion.Status.RETIRED
        )
    mv.status = status
    mv.save(update_fields=["status", "updated_at"])
    _audit_change(actor=actor, mv=mv, detail={"what": "status", "before": before, "after": status, "reason": reason})
    return mv


@transaction.atomic
def policy_update(*, policy: ThresholdPolicy, changes: dict[str, Any], actor: str, reason: str) -> ThresholdPolicy:
    """Edit thresholds/indicators with history (who, when, why) and an audit record."""
    if not reason.strip():
        raise ValidationFailed("A reason is required.", extra={"fields": {"reason": "required"}})
    before = {f: getattr(policy, f) for f in POLICY_FIELDS}
    after = {**before, **{k: v for k, v in changes.items() if k in POLICY_FIELDS}}
    if float(after["moderate_at"]) > float(after["high_at"]):
        raise ValidationFailed("moderate_at must not exceed high_at.", extra={"fields": {"moderate_at": "too high"}})
    for key, value in after.items():
        setattr(policy, key, value)
    policy.save()
    ThresholdPolicyChange.objects.create(policy=policy, changed_by=actor, reason=reason, before=before, after=after)
    _audit_change(
        actor=actor,
        mv=policy.model_version,
        detail={"what": "policy", "before": before, "after": after, "reason": reason},
    )
    return policy
