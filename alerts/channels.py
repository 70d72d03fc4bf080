"""Notification channels behind one interface: the clinician inbox, a signed webhook, email.

A channel is an object with a `name`, `recipients(alert, policy, purpose)` (a string of who gets this message,
or None when the channel sits this one out) and `send(notification, alert)`, which returns when the message
was handed over, raises `ChannelUnavailable` for a failure that may pass (Celery retries it with backoff) or
`ChannelRefused` for one that will not (dead-lettered at once). ALERTS_CHANNELS lists them by dotted path.
The same channels tell a model's owners of a monitor finding (`alerts.services.findings`):
`finding_recipients(finding, policy)` reads them from the model's `MonitorPolicy` (None: not on this channel)
and `send_finding(notification, finding)` hands the message over as `send` does, with the same errors.

Plugging in an SMS or paging provider (Twilio, a hospital's paging gateway, PagerDuty):
1. write `class PagerChannel:` with `name = "pager"`; `recipients()` reads who to page (say a new policy field
   or a setting; return None for purposes it should not page, e.g. "closed" unless the pager wants cancels);
   `send()` calls the provider's API with a secret from the environment and raises `ChannelUnavailable` on
   5xx/429/timeouts, `ChannelRefused` on a refused number or message; `finding_recipients()` returns None
   unless model owners are paged too (then `send_finding()` pages them the same way);
2. add its dotted path to ALERTS_CHANNELS (config/settings/alerts.py) and, for the admin's filter, a member
   to `Notification.Channel`.
Retries, backoff, dead-lettering, auditing and the alert's created -> delivered step come with the interface
(alerts.services.notify); a provider that only speaks webhooks needs no code: point ALERTS_WEBHOOK_URL at it.
Messages carry the least a channel needs: e-mail names the unit, model and band and links to the inbox, never
the patient; the webhook (an operator-configured, signed endpoint) carries the patient reference for paging.
A finding's messages name the model version, the monitor, what it found and the monitoring page; no patient.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
from functools import cache
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
import requests
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from alerts.models import Alert, AlertPolicy, FindingNotice, Notification
from config import outbound
from config.fhir_json import fhir_instant
from config.keys import decrypt_text
from scoring.models import MonitorPolicy
from scoring.monitoring.policy import addresses

SIGNATURE_HEADER = "X-Stratify-Signature"


class ChannelUnavailable(Exception):
    """The channel could not take the message now (5xx, 408, 429, timeout, connection refused): retried."""


class ChannelRefused(Exception):
    """The channel refused the message for good (a 4xx, a missing secret): dead-lettered without retrying."""


class Channel(Protocol):
    """What every notification channel provides (see the module docstring)."""

    name: str

    def recipients(self, alert: Alert, policy: AlertPolicy, purpose: str) -> str | None: ...

    def send(self, notification: Notification, alert: Alert) -> None: ...

    def finding_recipients(self, finding: FindingNotice, policy: MonitorPolicy) -> str | None: ...

    def send_finding(self, notification: Notification, finding: FindingNotice) -> None: ...


@cache
def channels() -> tuple[Channel, ...]:
    """The configured channels (ALERTS_CHANNELS), built once per process."""
    return tuple(import_string(path)() for path in settings.ALERTS_CHANNELS)


def inbox_url(unit: str) -> str:
    """The absolute URL of the unit's inbox."""
    return f"{settings.PUBLIC_BASE_URL}{reverse('alerts:inbox')}?{urlencode({'unit': unit})}"


def monitoring_url(finding: FindingNotice) -> str:
    """The absolute URL of the version's monitoring page."""
    path = reverse("scoring:model_monitoring", args=[finding.model_name, finding.model_version])
    return f"{settings.PUBLIC_BASE_URL}{path}"


class InboxChannel:
    """The unit's worklist page: an alert is there once committed, so its "new" message is delivered at once."""

    name = Notification.Channel.INBOX

    def recipients(self, alert: Alert, policy: AlertPolicy, purpose: str) -> str | None:
        return alert.unit or "(no unit)" if purpose == Notification.Purpose.NEW else None

    def send(self, notification: Notification, alert: Alert) -> None:
        """Nothing to hand over: the inbox page reads open alerts itself (and polls for new ones)."""

    def finding_recipients(self, finding: FindingNotice, policy: MonitorPolicy) -> str | None:
        """A clinical worklist is not where model owners look: findings show on /models/ instead."""
        return None

    def send_finding(self, notification: Notification, finding: FindingNotice) -> None:
        """Never asked (no recipients)."""


class WebhookChannel:
    """POST of the alert's JSON, signed: X-Stratify-Signature: sha256=<HMAC-SHA256(ALERTS_WEBHOOK_SECRET, body)>."""

    name = Notification.Channel.WEBHOOK

    def recipients(self, alert: Alert, policy: AlertPolicy, purpose: str) -> str | None:
        return settings.ALERTS_WEBHOOK_URL if policy.notify_webhook and settings.ALERTS_WEBHOOK_URL else None

    def send(self, notification: Notification, alert: Alert) -> None:
        self._post(notification, webhook_payload(notification, alert))

    def finding_recipients(self, finding: FindingNotice, policy: MonitorPolicy) -> str | None:
        return settings.ALERTS_WEBHOOK_URL if policy.notify_webhook and settings.ALERTS_WEBHOOK_URL else None

    def send_finding(self, notification: Notification, finding: FindingNotice) -> None:
        self._post(notification, finding_payload(notification, finding))

    def _post(self, notification: Notification, payload: dict[str, Any]) -> None:
        secret = settings.ALERTS_WEBHOOK_SECRET
        if not secret:
            raise ChannelRefused("ALERTS_WEBHOOK_SECRET is not set: webhooks are never sent unsigned.")
        body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: f"sha256={webhook_signature(body, secret)}",
            "X-Stratify-Delivery": str(notification.pk),
        }
        url = notification.recipients
        try:  # the URL is the operator's (environment), so it is a registered peer, as OUTBOUND_ALLOWED_BASES are
            response = outbound.session_for(url, registered=True).post(
                url, data=body, headers=headers, timeout=settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise ChannelUnavailable(f"webhook unreachable: {type(exc).__name__}") from exc
        _check_status(response.status_code)


def _check_status(status: int) -> None:
    if 200 <= status < 300:
        return
    if status >= 500 or status in (408, 429):
        raise ChannelUnavailable(f"webhook answered {status}")
    raise ChannelRefused(f"webhook answered {status}")


def webhook_signature(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of the exact body bytes (receivers compare with hmac.compare_digest)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _envelope(notification: Notification) -> dict[str, Any]:
    return {"event": notification.purpose, "delivery": notification.pk, "sent_at": fhir_instant(timezone.now())}


def webhook_payload(notification: Notification, alert: Alert) -> dict[str, Any]:
    """What a receiver (a paging gateway) needs; `sent_at` is signed too, so a receiver can refuse replays."""
    return {
        **_envelope(notification),
        "alert": {
            "id": alert.pk,
            "status": alert.status,
            "registration": alert.registration_id,
            "patient": decrypt_text(alert.patient_ref_encrypted),
            "unit": alert.unit,
            "model": alert.model_name,
            "model_version": alert.model_version,
            "title": alert.title,
            "band": alert.band,
            "indicator": alert.indicator,
            "score": alert.score_text,
            "summary": alert.summary,
            "drivers": [d["text"] for d in alert.drivers],
            "as_of": fhir_instant(alert.as_of),
            "data_time": fhir_instant(alert.data_time) if alert.data_time else None,
            "inbox": inbox_url(alert.unit),
        },
    }


def finding_payload(notification: Notification, finding: FindingNotice) -> dict[str, Any]:
    """A finding as a receiver (the model owners' channel) needs it; no patient."""
    return {
        **_envelope(notification),
        "finding": {
            "id": finding.pk,
            "monitor": finding.monitor,
            "run": finding.run_id,
            "model": finding.model_name,
            "model_version": finding.model_version,
            "opened_at": fhir_instant(finding.opened_at),
            "window": [fhir_instant(finding.window_start), fhir_instant(finding.window_end)],
            "what": finding.what,
            "monitoring": monitoring_url(finding),
        },
    }


class EmailChannel:
    """Django's mail backend: new alerts to the policy's list, escalations to its escalation list."""

    name = Notification.Channel.EMAIL

    def recipients(self, alert: Alert, policy: AlertPolicy, purpose: str) -> str | None:
        lists: dict[str, str] = {
            Notification.Purpose.NEW: policy.email_to,
            Notification.Purpose.REMINDER: policy.email_to,
            Notification.Purpose.ESCALATION: policy.escalation_email_to or policy.email_to,
        }
        return ",".join(addresses(lists.get(purpose, ""))) or None

    def send(self, notification: Notification, alert: Alert) -> None:
        self._mail(notification, *email_text(notification, alert))

    def finding_recipients(self, finding: FindingNotice, policy: MonitorPolicy) -> str | None:
        return ",".join(addresses(policy.notify_email_to)) or None

    def send_finding(self, notification: Notification, finding: FindingNotice) -> None:
        self._mail(notification, *finding_email_text(finding))

    def _mail(self, notification: Notification, subject: str, body: str) -> None:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, notification.recipients.split(","))
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelRefused(f"recipients refused: {sorted(exc.recipients)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelUnavailable(f"mail server: {type(exc).__name__}") from exc


EMAIL_SUBJECTS: dict[str, str] = {
    Notification.Purpose.NEW: "New alert",
    Notification.Purpose.ESCALATION: "ESCALATED: unacknowledged alert",
    Notification.Purpose.REMINDER: "Snoozed alert is back",
}


def email_text(notification: Notification, alert: Alert) -> tuple[str, str]:
    """Subject and body: unit, model, band and score, and the inbox link; no patient identifier."""
    where = alert.unit or "no unit"
    subject = f"[Stratify] {EMAIL_SUBJECTS.get(notification.purpose, 'Alert')}: {alert.title} {alert.band} ({where})"
    lines = [
        f"{alert.title}: {alert.band} ({alert.score_text}) on {where}.",
        alert.summary,
        "",
        f"Open the {where} inbox to see the patient, acknowledge or snooze: {inbox_url(alert.unit)}",
    ]
    return subject, "\n".join(lines)


def finding_email_text(finding: FindingNotice) -> tuple[str, str]:
    """Subject and body: the version, the monitor, what it found, the window and the monitoring page."""
    version = f"{finding.model_name} {finding.model_version}"
    subject = f"[Stratify] Monitoring finding: {version} ({finding.monitor})"
    lines = [
        f"The {finding.monitor} monitor opened a finding on {version}:",
        *(f"- {line}" for line in finding.what),
        "",
        f"Window: {fhir_instant(finding.window_start)} to {fhir_instant(finding.window_end)}.",
        f"The monitoring page: {monitoring_url(finding)}",
        "You are told once per finding; it stays open while the monitor finds it again.",
    ]
    return subject, "\n".join(lines)
