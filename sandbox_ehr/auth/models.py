"""ORM models of the sandbox SMART authorization server.

Clients are django-oauth-toolkit `Application` rows plus a `ClientProfile` with the SMART parts DOT
does not model (auth method, JWKS URL, allowed scopes). Codes, launches and tokens are our own rows
so they can carry SMART launch context; every secret value (code, launch, token) is stored only as
its SHA-256, never in clear, so a database dump yields no usable credential.
"""

from django.db import models


class ClientProfile(models.Model):
    """SMART registration details of one OAuth application."""

    class AuthMethod(models.TextChoices):
        NONE = "none", "public client (PKCE only)"
        PRIVATE_KEY_JWT = "private_key_jwt", "confidential asymmetric (private_key_jwt)"

    application = models.OneToOneField(
        "oauth2_provider.Application", on_delete=models.CASCADE, related_name="smart_profile"
    )
    auth_method = models.CharField(max_length=20, choices=AuthMethod.choices)
    jwks_uri = models.URLField(max_length=500, blank=True)
    allowed_scope = models.TextField(help_text="Space-separated scopes this client may be granted.")

    def __str__(self) -> str:
        return f"{self.application.client_id} ({self.auth_method})"


class Launch(models.Model):
    """An EHR launch value: opaque, single-use, short-lived, bound to patient/encounter context."""

    value_hash = models.CharField(max_length=64, unique=True)
    patient_id = models.CharField(max_length=64)
    encounter_id = models.CharField(max_length=64, blank=True)
    app_context = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"launch {self.pk} for Patient/{self.patient_id}"


class AuthorizationCode(models.Model):
    """An authorization code with its PKCE challenge and the launch context it grants."""

    code_hash = models.CharField(max_length=64, unique=True)
    client_id = models.CharField(max_length=255)
    redirect_uri = models.TextField()
    scope = models.TextField()
    code_challenge = models.CharField(max_length=128)
    nonce = models.CharField(max_length=255, blank=True)
    patient_id = models.CharField(max_length=64, blank=True)
    encounter_id = models.CharField(max_length=64, blank=True)
    fhir_user = models.CharField(max_length=500, blank=True)
    app_context = models.TextField(blank=True)
    need_patient_banner = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code {self.pk} for {self.client_id}"


class IssuedToken(models.Model):
    """An access or refresh token (hash only) with its scope and launch context."""

    class Kind(models.TextChoices):
        ACCESS = "access"
        REFRESH = "refresh"

    token_hash = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    client_id = models.CharField(max_length=255, db_index=True)
    scope = models.TextField()
    patient_id = models.CharField(max_length=64, blank=True)
    encounter_id = models.CharField(max_length=64, blank=True)
    fhir_user = models.CharField(max_length=500, blank=True)
    app_context = models.TextField(blank=True)
    need_patient_banner = models.BooleanField(default=True)
    code = models.ForeignKey(AuthorizationCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="tokens")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} token {self.pk} for {self.client_id}"


class UsedAssertion(models.Model):
    """A client assertion `jti` already seen: replays are refused until it would have expired anyway."""

    client_id = models.CharField(max_length=255)
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_id", "jti"], name="sandbox_auth_unique_jti")]

    def __str__(self) -> str:
        return f"{self.client_id} jti {self.jti}"


class SigningKey(models.Model):
    """A sandbox signing key: public JWK in clear, private key PEM encrypted (config.keys)."""

    class Purpose(models.TextChoices):
        ID_TOKEN = "id_token", "OpenID Connect id_token (RS256)"
        CDS_CLIENT = "cds_client", "CDS Hooks client JWT (ES384)"

    purpose = models.CharField(max_length=16, choices=Purpose.choices, unique=True)
    kid = models.CharField(max_length=64, unique=True)
    alg = models.CharField(max_length=8)
    public_jwk = models.JSONField()
    private_pem_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.purpose} {self.alg} {self.kid}"
