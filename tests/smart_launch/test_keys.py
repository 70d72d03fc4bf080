"""Our client keys: rotation by kid, the public JWKS (no private parts), the demo setup command."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from config.keys import decrypt_text
from smart_launch.keys import client_keys_rotate, signing_key
from smart_launch.models import ClientKey, EhrRegistration

pytestmark = pytest.mark.django_db
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


class JwksTests:
    def test_rotate_makes_rs384_and_es384_and_keeps_retired_in_grace(self, client: Client) -> None:
        first = {k.kid for k in client_keys_rotate()}
        second = {k.kid for k in client_keys_rotate()}
        body = client.get("/.well-known/jwks.json").json()
        kids = {k["kid"] for k in body["keys"]}
        assert first | second == kids and first.isdisjoint(second)
        assert {k["alg"] for k in body["keys"]} == {"RS384", "ES384"}
        assert all(PRIVATE_MEMBERS.isdisjoint(k) for k in body["keys"])

    def test_long_retired_keys_leave_the_jwks(self, client: Client) -> None:
        old = {k.kid for k in client_keys_rotate()}
        client_keys_rotate()
        ClientKey.objects.filter(kid__in=old).update(retired_at=timezone.now() - timedelta(days=30))
        kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
        assert kids and kids.isdisjoint(old)

    def test_private_key_is_encrypted_and_signs_verifiably(self, client: Client) -> None:
        client_keys_rotate()
        record = ClientKey.objects.get(active=True, alg="ES384")
        assert '"d"' not in record.private_jwk_encrypted and '"d"' in decrypt_text(record.private_jwk_encrypted)
        key, alg, kid = signing_key()
        token = jwt.encode({"alg": alg, "kid": kid}, {"iss": "x"}, key, algorithms=[alg])
        published = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
        assert jwt.decode(token, published, algorithms=["ES384", "RS384"]).claims == {"iss": "x"}


class DemoSetupTests:
    @override_settings(PUBLIC_BASE_URL="http://127.0.0.1:8123")
    def test_idempotent(self) -> None:
        call_command("smart_demo_setup")
        kids = set(ClientKey.objects.values_list("kid", flat=True))
        call_command("smart_demo_setup")
        assert set(ClientKey.objects.values_list("kid", flat=True)) == kids and len(kids) == 2
        registration = EhrRegistration.objects.get()
        assert registration.iss == "http://127.0.0.1:8123/sandbox/fhir"
        assert registration.client_id == "stratify-sidebar" and registration.is_confidential
        assert registration.frame_ancestors == "http://127.0.0.1:8123"
