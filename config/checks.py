"""System checks that stop an unsafe production configuration from starting."""

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import SystemCheckError

from config.env import INSECURE_DEV_SECRET


def _is_production() -> bool:
    return bool(getattr(settings, "STRATIFY_PRODUCTION", False))


@checks.register(checks.Tags.security)
def production_settings_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse DEBUG, the development secret, empty ALLOWED_HOSTS and missing keys in production."""
    if not _is_production():
        return []
    errors: list[checks.CheckMessage] = []
    if settings.DEBUG:
        errors.append(checks.Error("DEBUG is on in production.", hint="Set DEBUG=false.", id="stratify.E001"))
    if settings.SECRET_KEY == INSECURE_DEV_SECRET or len(settings.SECRET_KEY) < 50:
        errors.append(
            checks.Error(
                "SECRET_KEY is the development default or shorter than 50 characters.",
                hint="Set SECRET_KEY to a long random value, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(64))'.",
                id="stratify.E002",
            )
        )
    if not settings.ALLOWED_HOSTS:
        errors.append(
            checks.Error(
                "ALLOWED_HOSTS is empty.",
                hint="Set ALLOWED_HOSTS=stratify.example.org (comma list).",
                id="stratify.E003",
            )
        )
    if not settings.FIELD_ENCRYPTION_KEY:
        errors.append(
            checks.Error(
                "FIELD_ENCRYPTION_KEY is not set: tokens could not be encrypted at rest.",
                hint="Generate one with python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'.",
                id="stratify.E004",
            )
        )
    if not settings.AUDIT_PSEUDONYM_KEY:
        errors.append(
            checks.Error(
                "AUDIT_PSEUDONYM_KEY is not set: audit pseudonyms need a key.",
                hint="Set it to 32+ random bytes (e.g. secrets.token_hex(32)).",
                id="stratify.E005",
            )
        )
    if not settings.AUDIT_CHAIN_KEY:
        errors.append(
            checks.Error(
                "AUDIT_CHAIN_KEY is not set: the audit chain needs a key the database never holds.",
                hint="Set it to 32+ random bytes (e.g. secrets.token_hex(32)); keep it outside "
                "the database and its backups.",
                id="stratify.E008",
            )
        )
    if not settings.PUBLIC_BASE_URL.startswith("https://"):
        errors.append(
            checks.Error(
                "PUBLIC_BASE_URL is not https: SMART redirect URIs, CDS audiences and card links would be sent "
                "in clear.",
                hint="Set PUBLIC_BASE_URL=https://stratify.example.org (the URL EHRs and browsers reach).",
                id="stratify.E007",
            )
        )
    if settings.SANDBOX_EHR_ENABLED:
        errors.append(
            checks.Error(
                "The sandbox EHR is enabled in production.", hint="Unset SANDBOX_EHR_ENABLED.", id="stratify.E006"
            )
        )
    return errors


def refuse_to_start_on_errors() -> None:
    """Run every system check at process start (WSGI) and refuse to serve on any error."""
    if not _is_production():
        return
    messages = [
        m for m in checks.run_checks(include_deployment_checks=False) if m.level >= checks.ERROR and not m.is_silenced()
    ]
    if messages:
        text = "\n".join(str(m) for m in messages)
        raise ImproperlyConfigured(f"Stratify refuses to start:\n{text}") from SystemCheckError(text)
