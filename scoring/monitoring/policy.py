"""Monitor thresholds per model (`MonitorPolicy`, edited in admin with history) and the bounds a run applies.

Defaults and where they come from:
- psi_major 0.25, drift_share 0.5, missing_change 0.10: `scoring.monitoring.drift` (Siddiqi's PSI reading;
  Evidently's dataset-drift share).
- min_events 100: at least 100 events (and non-events) to validate a prediction model (Collins GS, Ogundimu EO,
  Altman DG. Sample size considerations for the external validation of a multivariable prognostic model:
  a resampling study. Stat Med 2016;35:214-226), counted as patients (a stay's hourly scores are one event's,
  not many). Fewer: the run says "too few" instead of judging; a subgroup with fewer is shown, not judged
  (a patient bootstrap over a handful of septic patients gives intervals far too narrow:
  benchmarks/performance_monitor.py found subgroups of 2-3 septic patients flagged in half the set-B
  windows before this rule).
- auroc_min, auprc_min, subgroup_auroc_min empty: the version's own card (its external evaluation; per
  subgroup for subgroups). A finding needs the window's whole 95 % interval below the bound.
- slope 1 and intercept 0: "weak calibration" (Van Calster B, et al. A calibration hierarchy for risk models
  was defined: from utopia to empirical data. J Clin Epidemiol 2016;74:167-176). A finding needs the whole
  interval on one side.
- ece_max, alerts_per_100_max, ppv_min empty: not judged until a site sets them; they depend on the site's
  case mix and workload, which no published value fixes.

Who is told when a monitor opens a finding is part of the same policy (and its history): `notify_email_to`
(the model's owners) and `notify_webhook` (ALERTS_WEBHOOK_URL, signed); empty, nobody is told, the finding still
shows as "attention needed". The alerts app's channels send it (`alerts.services.findings`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction

from audit.models import AuditRecord
from audit.services import audit_record_create
from config.errors import ValidationFailed
from scoring.card import external_metrics
from scoring.models import MonitorPolicy, MonitorPolicyChange

POLICY_FIELDS = (
    "psi_major",
    "missing_change",
    "drift_share",
    "min_events",
    "auroc_min",
    "auprc_min",
    "ece_max",
    "slope_min",
    "slope_max",
    "intercept_max",
    "subgroup_auroc_min",
    "alerts_per_100_max",
    "ppv_min",
    "notify_email_to",
    "notify_webhook",
)


def monitor_policy_get(model_name: str) -> MonitorPolicy:
    """The model's policy; the documented defaults (unsaved) when no admin has made one yet."""
    return MonitorPolicy.objects.filter(model_name=model_name).first() or MonitorPolicy(model_name=model_name)


def policy_values(policy: MonitorPolicy) -> dict[str, Any]:
    """The policy's thresholds and recipients as plain values."""
    return {f: getattr(policy, f) for f in POLICY_FIELDS}


def _check(after: dict[str, Any]) -> None:
    if after["slope_min"] is not None and after["slope_max"] is not None and after["slope_min"] > after["slope_max"]:
        raise ValidationFailed("slope_min must not exceed slope_max.", extra={"fields": {"slope_min": "too high"}})
    negative = [f for f, v in after.items() if isinstance(v, int | float) and v < 0 and f != "slope_min"]
    if negative:
        raise ValidationFailed("Thresholds must not be negative.", extra={"fields": dict.fromkeys(negative, "< 0")})
    bad = [a for a in addresses(after["notify_email_to"]) if not _is_address(a)]
    if bad:
        raise ValidationFailed(f"Not e-mail addresses: {', '.join(bad)}.", extra={"fields": {"notify_email_to": bad}})


def addresses(text: str) -> list[str]:
    """The addresses of a comma-separated list, blanks dropped."""
    return [a.strip() for a in text.split(",") if a.strip()]


def _is_address(text: str) -> bool:
    try:
        validate_email(text)
    except DjangoValidationError:
        return False
    return True


def monitor_policy_update(*, policy: MonitorPolicy, changes: dict[str, Any], actor: str, reason: str) -> MonitorPolicy:
    """Edit (or first save) a model's monitor thresholds with history (who, when, why, before, after) and an
    audit record."""
    if not reason.strip():
        raise ValidationFailed("A reason is required.", extra={"fields": {"reason": "required"}})
    before = policy_values(policy) if policy.pk else {}
    after = {**policy_values(policy), **{k: v for k, v in changes.items() if k in POLICY_FIELDS}}
    _check(after)
    with transaction.atomic():
        for key, value in after.items():
            setattr(policy, key, value)
        policy.save()
        MonitorPolicyChange.objects.create(policy=policy, changed_by=actor, reason=reason, before=before, after=after)
        audit_record_create(
            action=AuditRecord.Action.ADMIN_CHANGE,
            actor=f"admin:{actor}",
            purpose_of_use="HSYSADMIN",
            model_name=policy.model_name,
            detail={"what": "monitor policy", "before": before, "after": after, "reason": reason},
        )
    return policy


def performance_bounds(policy: MonitorPolicy, card: dict[str, Any]) -> dict[str, Any]:
    """The bounds a performance run applies: the policy's, its empty ones filled from the card (and said so)."""
    key, external = external_metrics(card)
    subgroups = {name: g.get("auroc") for name, g in (external.get("subgroups") or {}).items()}
    return {
        "min_events": policy.min_events,
        "auroc_min": _or_card(policy.auroc_min, external.get("auroc")),
        "auprc_min": _or_card(policy.auprc_min, external.get("auprc")),
        "ece_max": policy.ece_max,
        "slope_min": policy.slope_min,
        "slope_max": policy.slope_max,
        "intercept_max": policy.intercept_max,
        "subgroup_auroc_min": {name: _or_card(policy.subgroup_auroc_min, value) for name, value in subgroups.items()},
        "alerts_per_100_max": policy.alerts_per_100_max,
        "ppv_min": policy.ppv_min,
        "card_set": key or "",
    }


def _or_card(value: float | None, card_value: Any) -> float | None:
    if value is not None:
        return value
    return float(card_value) if isinstance(card_value, int | float) else None
