"""`manage.py sandbox_setup`: clients, encrypted keys, JWKS, trusted CDS client; idempotent."""

from io import StringIO

import pytest
from django.core.management import call_command
from oauth2_provider.models import Application

from cds_hooks.models import TrustedCdsClient
from config.keys import decrypt_text
from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.models import ClientProfile, SigningKey

pytestmark = pytest.mark.django_db


def _run() -> str:
    out = StringIO()
    call_command("sandbox_setup", stdout=out)
    return out.getvalue()


def test_setup_is_idempotent_and_complete(settings):
    settings.PUBLIC_BASE_URL = "https://demo.example"
    first = _run()
    assert "client stratify-sidebar: created" in first
    second = _run()
    assert "created" not in second
    assert Application.objects.count() == 4 and SigningKey.objects.count() == 2
    sidebar = ClientProfile.objects.get(application__client_id="stratify-sidebar")
    assert sidebar.auth_method == "private_key_jwt"
    assert sidebar.jwks_uri == "https://demo.example/.well-known/jwks.json"
    assert sidebar.application.redirect_uris == "https://demo.example/smart/callback"
    public = ClientProfile.objects.get(application__client_id="stratify-sidebar-public")
    assert public.auth_method == "none" and public.application.client_type == "public"
    backend = Application.objects.get(client_id="stratify-backend")
    assert backend.authorization_grant_type == "client-credentials"
    assert all(s.startswith("system/") or s == "introspect" for s in backend.smart_profile.allowed_scope.split())
    trusted = TrustedCdsClient.objects.get(iss="https://demo.example/sandbox/ehr")
    assert trusted.jwks_url == endpoints.jwks_url() == "https://demo.example/sandbox/ehr/.well-known/jwks.json"


def test_private_keys_encrypted_at_rest():
    _run()
    for row in SigningKey.objects.all():
        assert "PRIVATE KEY" not in row.private_pem_encrypted
        assert "PRIVATE KEY" in decrypt_text(row.private_pem_encrypted)
        assert "d" not in row.public_jwk
    assert {row.alg for row in SigningKey.objects.all()} == {"RS256", "ES384"}


def test_url_change_updates_clients(settings):
    _run()
    settings.PUBLIC_BASE_URL = "https://moved.example"
    _run()
    app = Application.objects.get(client_id="stratify-sidebar")
    assert app.redirect_uris == "https://moved.example/smart/callback"
    assert SigningKey.objects.count() == 2  # keys are kept across runs
