"""Alert services (writes and side effects). `alerts_on_scores` (and `alerts_on_score`, one
patient's) is the door every scoring path calls; see
lifecycle (raise, deduplicate, suppress, clinicians' actions), notify (channels, retries, dead letters),
sweep (escalation, expiry, snooze ends) and policy (per model and unit, with history)."""

from alerts.services.lifecycle import (
    alert_acknowledge,
    alert_outcome_record,
    alert_resolve,
    alert_snooze,
    alerts_on_score,
    alerts_on_scores,
)
from alerts.services.sweep import alerts_sweep

__all__ = [
    "alert_acknowledge",
    "alert_outcome_record",
    "alert_resolve",
    "alert_snooze",
    "alerts_on_score",
    "alerts_on_scores",
    "alerts_sweep",
]
