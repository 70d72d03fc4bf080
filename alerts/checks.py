"""System checks of alerts: a webhook URL needs its signing secret (webhooks are never sent unsigned)."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def webhook_secret_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """ALERTS_WEBHOOK_URL without ALERTS_WEBHOOK_SECRET is an error."""
    if settings.ALERTS_WEBHOOK_URL and not settings.ALERTS_WEBHOOK_SECRET:
        return [
            Error(
                "ALERTS_WEBHOOK_URL is set but ALERTS_WEBHOOK_SECRET is not: alert webhooks would go unsigned.",
                hint="Set ALERTS_WEBHOOK_SECRET in the environment (a long random string shared with the receiver).",
                id="alerts.E001",
            )
        ]
    return []
