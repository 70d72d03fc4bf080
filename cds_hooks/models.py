"""ORM models of cds_hooks: trusted CDS clients, per-service settings, issued cards and their feedback."""

import uuid
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def fhir_base_normalize(url: str) -> str:
    """A FHIR base URL as we compare it: surrounding blanks and trailing slashes removed."""
    return url.strip().rstrip("/")


class TrustedCdsClient(models.Model):
    """A CDS Client (EHR) allowed to call our services: its JWT issuer and where its public keys are.

    Spec: https://cds-hooks.hl7.org/2.0/#trusting-cds-clients
    """

    iss = models.CharField("issuer (iss)", max_length=500, unique=True)
    jwks_url = models.URLField("JWKS URL", max_length=500, blank=True)
    jwks = models.JSONField(
        "JWKS (inline)", null=True, blank=True, help_text="A JSON Web Key Set, when the client publishes no JWKS URL."
    )
    tenant = models.CharField(max_length=200, blank=True, help_text="When set, the JWT's `tenant` claim must equal it.")
    fhir_servers = models.TextField(
        "FHIR servers",
        blank=True,
        help_text="The FHIR base URLs of this client's EHR, one per line: a hook's `fhirServer` must be one of "
        "them (else the call is refused and nothing is fetched or written back).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["iss"]
        verbose_name = "trusted CDS client"

    def __str__(self) -> str:
        return self.iss

    @property
    def fhir_server_list(self) -> tuple[str, ...]:
        """The registered FHIR base URLs, normalized."""
        return tuple(fhir_base_normalize(u) for u in self.fhir_servers.splitlines() if u.strip())

    def clean(self) -> None:
        """Exactly one key source: a JWKS URL or an inline JWKS with at least one key; FHIR servers are
        http(s) URLs without query or fragment."""
        if bool(self.jwks_url) == bool(self.jwks):
            raise ValidationError("Give either a JWKS URL or an inline JWKS, not both or neither.")
        if self.jwks and not (isinstance(self.jwks, dict) and self.jwks.get("keys")):
            raise ValidationError({"jwks": "A JWKS is an object with a non-empty `keys` array."})
        for url in self.fhir_server_list:
            _fhir_base_validate(url)
        self.fhir_servers = "\n".join(dict.fromkeys(self.fhir_server_list))


def _fhir_base_validate(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ord(c) < 33 for c in url):
        raise ValidationError({"fhir_servers": f"{url[:200]!r} is not an http(s) URL."})
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValidationError({"fhir_servers": f"{url[:200]!r}: a FHIR base has no query or fragment."})


class CdsServiceSetting(models.Model):
    """Admin-managed behaviour of one CDS service id (defaults apply when no row exists)."""

    class NotScored(models.TextChoices):
        CARD = "card", "info card naming what is missing or stale"
        NONE = "none", "no card"

    service_id = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True, help_text="Disabled services leave discovery and answer 404.")
    not_scored = models.CharField("when not scored", max_length=10, choices=NotScored.choices, default=NotScored.CARD)
    write_back = models.BooleanField(
        default=True, help_text="Enqueue the write-back of each assessment (when WRITEBACK_ENABLED)."
    )

    class Meta:
        ordering = ["service_id"]
        verbose_name = "CDS service setting"

    def __str__(self) -> str:
        return self.service_id


class IssuedCard(models.Model):
    """A card we returned, kept for feedback, the SMART link's appContext and alert-burden metrics."""

    class Outcome(models.TextChoices):
        IGNORED = "ignored"  # no feedback (spec: the client does not report ignored cards)
        ACCEPTED = "accepted"
        OVERRIDDEN = "overridden"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    service_id = models.CharField(max_length=100, db_index=True)
    hook = models.CharField(max_length=60)
    hook_instance = models.CharField(max_length=200)
    client_iss = models.CharField(max_length=500)
    patient_pseudonym = models.CharField(max_length=64, db_index=True)
    patient_ref_encrypted = models.TextField(blank=True)  # Fernet (config.keys), for the SMART sidebar
    encounter_id = models.CharField(max_length=200, blank=True)
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64)
    scored = models.BooleanField()
    probability = models.FloatField(null=True, blank=True)
    points = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=20, blank=True)
    indicator = models.CharField(max_length=10)
    summary = models.CharField(max_length=140)
    as_of = models.DateTimeField()
    issued_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.IGNORED)
    outcome_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["service_id", "model_version", "indicator"])]

    def __str__(self) -> str:
        return f"{self.service_id} {self.uuid}"


class CardFeedback(models.Model):
    """One feedback item a CDS Client sent for an issued card (https://cds-hooks.hl7.org/2.0/#feedback)."""

    card = models.ForeignKey(IssuedCard, on_delete=models.PROTECT, related_name="feedback")
    outcome = models.CharField(max_length=12, choices=[("accepted", "accepted"), ("overridden", "overridden")])
    reason_system = models.CharField(max_length=500, blank=True)
    reason_code = models.CharField(max_length=100, blank=True)
    reason_display = models.CharField(max_length=200, blank=True)
    user_comment = models.TextField(blank=True)
    accepted_suggestions = models.JSONField(default=list, blank=True)
    outcome_timestamp = models.DateTimeField()
    client_iss = models.CharField(max_length=500)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.outcome} {self.card_id}"


class UsedJti(models.Model):
    """A CDS client JWT already accepted (sha256 of iss and jti), kept until the token could no longer be
    accepted anyway: the replay store when there is no Redis (cds_hooks.replay)."""

    digest = models.CharField(max_length=64, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "used CDS JWT id"

    def __str__(self) -> str:
        return self.digest
