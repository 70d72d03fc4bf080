"""Alert settings (alerts app): notification channels, their retries, the inbox, the mail server, beat entries.

Policies (which band alerts, escalation and expiry times, re-alert interval, channels) are rows per model and
unit edited in admin (alerts.AlertPolicy); what is here is the wiring an operator sets in the environment.
"""

from config.env import BASE_DIR, env

# The notification channels (alerts/channels.py says how an SMS or paging provider plugs in).
ALERTS_CHANNELS = env.list(
    "ALERTS_CHANNELS",
    default=["alerts.channels.InboxChannel", "alerts.channels.WebhookChannel", "alerts.channels.EmailChannel"],
)
# Signed webhook: POST of the alert's JSON to this URL with X-Stratify-Signature: sha256=<hex HMAC-SHA256 of the
# body keyed by ALERTS_WEBHOOK_SECRET>. No URL: the webhook channel is off. The URL comes from the operator's
# environment, so it is reached as a registered peer (it may be the hospital's paging gateway on its network).
ALERTS_WEBHOOK_URL = env.str("ALERTS_WEBHOOK_URL", default="")
ALERTS_WEBHOOK_SECRET = env.str("ALERTS_WEBHOOK_SECRET", default="")
ALERTS_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERTS_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Tries of one notification (the first attempt plus retries) before it is dead-lettered (admin: dead letters).
ALERTS_NOTIFY_MAX_TRIES = env.int("ALERTS_NOTIFY_MAX_TRIES", default=5)
# Celery's backoff between tries: countdown drawn from [0, min(BASE * 2**retry, MAX)] seconds.
ALERTS_NOTIFY_RETRY_BASE_SECONDS = env.int("ALERTS_NOTIFY_RETRY_BASE_SECONDS", default=15)
ALERTS_NOTIFY_RETRY_MAX_SECONDS = env.int("ALERTS_NOTIFY_RETRY_MAX_SECONDS", default=600)
# Mail: Django's SMTP backend when EMAIL_HOST is set, else the console backend (the embedded default; the demo
# sets EMAIL_BACKEND to the file-based one, a local mailbox in var/mail).
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
# The file-based backend (django.core.mail.backends.filebased.EmailBackend, the demo's) writes each message here.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="stratify@localhost")
# How often the clinician inbox asks for its unit's open alerts (seconds).
ALERTS_INBOX_POLL_SECONDS = env.int("ALERTS_INBOX_POLL_SECONDS", default=10)
# Write each alert to the EHR as a FHIR Flag (active while open, inactive once closed). Off by default: a
# Flag shows in every chart view of some EHRs, so a site turns it on once its EHR team agrees; WRITEBACK_ENABLED
# must be on as well (the write-back policy governs every write to the chart).
ALERTS_FLAG_WRITEBACK = env.bool("ALERTS_FLAG_WRITEBACK", default=False)
ALERTS_FLAG_SCOPE = env.str("ALERTS_FLAG_SCOPE", default="system/Flag.cu system/Flag.rs")
# Escalation and expiry of unacknowledged alerts, and the end of snoozes (Celery beat, every minute).
ALERTS_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "alerts-sweep": {"task": "alerts.sweep", "schedule": 60.0, "options": {"expires": 55}},
}
