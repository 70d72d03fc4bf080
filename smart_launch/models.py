"""ORM models of smart_launch: EHR registrations, our client keys, authorization requests, launched sessions."""

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from scoring.catalogue import hook_definitions

SIDEBAR_HOOK = "patient-view"


def default_scopes() -> str:
    """SMART v2 read/search scopes for every resource type the sidebar's models read (from the catalogue)."""
    types = dict.fromkeys(t for m in hook_definitions(SIDEBAR_HOOK) for t in m.requirements.resource_types)
    return " ".join(f"patient/{t}.rs" for t in sorted(types, key=lambda t: (t != "Patient", t)))


def _validate_origins(value: str) -> None:
    for origin in value.split():
        if not origin.startswith(("https://", "http://")) or origin.count("/") != 2 or ";" in origin:
            raise ValidationError(f"{origin!r} is not an origin such as https://ehr.example.org")


class EhrRegistration(models.Model):
    """An EHR (FHIR server `iss`) we may be launched from, and the client id it knows us by."""

    class ClientType(models.TextChoices):
        PUBLIC = "public", "public (PKCE only)"
        CONFIDENTIAL_ASYMMETRIC = "confidential-asymmetric", "confidential, asymmetric (private_key_jwt)"

    name = models.CharField(max_length=120)
    iss = models.URLField(max_length=500, unique=True, help_text="FHIR base URL exactly as the EHR sends it.")
    client_id = models.CharField(max_length=200)
    client_type = models.CharField(
        max_length=32, choices=ClientType.choices, default=ClientType.CONFIDENTIAL_ASYMMETRIC
    )
    scopes = models.CharField(
        max_length=1000,
        default=default_scopes,
        help_text="Clinical scopes (SMART v2 form); `launch openid fhirUser` are always added.",
    )
    offline_access = models.BooleanField(default=False, help_text="Ask for a refresh token usable offline.")
    frame_ancestors = models.CharField(
        max_length=1000,
        blank=True,
        validators=[_validate_origins],
        help_text="Space-separated origins allowed to frame the sidebar (CSP frame-ancestors).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.iss})"

    @property
    def is_confidential(self) -> bool:
        """True when we authenticate to its token endpoint with a signed assertion."""
        return self.client_type == self.ClientType.CONFIDENTIAL_ASYMMETRIC


class ClientKey(models.Model):
    """One of our signing keys for private_key_jwt; the private part is encrypted at rest."""

    class Algorithm(models.TextChoices):
        RS384 = "RS384"
        ES384 = "ES384"

    kid = models.CharField(max_length=64, unique=True)
    alg = models.CharField(max_length=8, choices=Algorithm.choices)
    private_jwk_encrypted = models.TextField()
    public_jwk = models.JSONField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.alg} {self.kid} ({'active' if self.active else 'retired'})"


class AuthorizationRequest(models.Model):
    """A pending authorization: the single-use `state`, PKCE verifier and nonce, bound to one browser session."""

    state_digest = models.CharField(max_length=64, unique=True)  # sha256 of state
    binding_digest = models.CharField(max_length=64)  # sha256 of the browser session's binding secret
    registration = models.ForeignKey(EhrRegistration, on_delete=models.CASCADE)
    code_verifier_encrypted = models.TextField()
    nonce = models.CharField(max_length=64)
    launch_kind = models.CharField(max_length=16)  # ehr | standalone
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"authorization {self.pk} for {self.registration_id}"


class SmartSession(models.Model):
    """A completed launch: tokens (encrypted at rest, never logged) and the launch context."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    registration = models.ForeignKey(EhrRegistration, on_delete=models.CASCADE)
    binding_digest = models.CharField(max_length=64)
    access_token_encrypted = models.TextField()
    refresh_token_encrypted = models.TextField(blank=True)
    id_token_encrypted = models.TextField(blank=True)
    scope = models.CharField(max_length=2000, blank=True)
    patient = models.CharField(max_length=200, blank=True)
    encounter = models.CharField(max_length=200, blank=True)
    fhir_user = models.CharField(max_length=500, blank=True)
    fhir_context = models.JSONField(default=list, blank=True)
    need_patient_banner = models.BooleanField(default=True)
    smart_style_url = models.URLField(max_length=500, blank=True)
    tenant = models.CharField(max_length=200, blank=True)
    app_context = models.JSONField(default=dict, blank=True)  # validated only: {"card": {...}}
    app_context_notice = models.CharField(max_length=300, blank=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"SMART session {self.id}"
