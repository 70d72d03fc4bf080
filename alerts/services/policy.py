"""Alert policies per model and unit: the one lookup (unit, then the model's default, then the field defaults)
and edits with history (who, when, why, before, after) and an audit record."""

from typing import Any

from django.db import transaction

from alerts.models import AlertPolicy, AlertPolicyChange
from audit.services import audit_record_create
from config.errors import ValidationFailed
from config.ttl_cache import TtlCache

POLICY_FIELDS = (
    "enabled",
    "min_band",
    "escalate_after_minutes",
    "expire_after_minutes",
    "realert_minutes",
    "max_snooze_minutes",
    "resolve_when_band_falls",
    "notify_webhook",
    "email_to",
    "escalation_email_to",
)
# Read on every rescore: a change made in another process applies within this many seconds.
_POLICIES: TtlCache[tuple[str, str], AlertPolicy] = TtlCache(5.0)


def alert_policy_get(model_name: str, unit: str) -> AlertPolicy:
    """The unit's policy, else the model's default (unit ""), else the documented field defaults (unsaved)."""
    return _POLICIES.get((model_name, unit), lambda: _policy_find(model_name, unit))


def _policy_find(model_name: str, unit: str) -> AlertPolicy:
    found = {p.unit: p for p in AlertPolicy.objects.filter(model_name=model_name, unit__in={unit, ""})}
    return found.get(unit) or found.get("") or AlertPolicy(model_name=model_name, unit="")


def alert_policies_forget() -> None:
    """Drop this process's cached policies (after an edit, and in tests)."""
    _POLICIES.clear()


def alert_policy_update(*, policy: AlertPolicy, changes: dict[str, Any], actor: str, reason: str) -> AlertPolicy:
    """Create or edit a policy with history and an `admin_change` audit record; a reason is required."""
    if not reason.strip():
        raise ValidationFailed("A reason is required.", extra={"fields": {"reason": "required"}})
    before = {f: getattr(policy, f) for f in POLICY_FIELDS} if policy.pk else {}
    after = {
        **{f: getattr(policy, f) for f in POLICY_FIELDS},
        **{k: v for k, v in changes.items() if k in POLICY_FIELDS},
    }
    with transaction.atomic():
        for key, value in after.items():
            setattr(policy, key, value)
        policy.full_clean()
        policy.save()
        AlertPolicyChange.objects.create(policy=policy, changed_by=actor, reason=reason, before=before, after=after)
        audit_record_create(
            action="admin_change",
            actor=f"admin:{actor}",
            purpose_of_use="HSYSADMIN",
            model_name=policy.model_name,
            detail={"what": "alert policy", "unit": policy.unit, "before": before, "after": after, "reason": reason},
        )
    alert_policies_forget()
    return policy
