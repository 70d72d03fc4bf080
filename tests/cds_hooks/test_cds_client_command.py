"""`manage.py cds_client add|list|disable`: idempotent registration of trusted CDS clients."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from joserfc.jwk import ECKey

from cds_hooks.models import TrustedCdsClient

pytestmark = pytest.mark.django_db
ISS = "http://127.0.0.1:8000/sandbox/ehr"


def _run(*args: str) -> str:
    out = StringIO()
    call_command("cds_client", *args, stdout=out)
    return out.getvalue()


def test_add_is_idempotent_and_updates() -> None:
    assert "added" in _run("add", "--iss", ISS, "--jwks-url", "http://127.0.0.1:8000/sandbox/ehr/.well-known/jwks.json")
    assert "updated" in _run("add", "--iss", ISS, "--jwks-url", "https://ehr.example.org/jwks", "--tenant", "t1")
    client = TrustedCdsClient.objects.get()
    assert (client.jwks_url, client.tenant, client.enabled) == ("https://ehr.example.org/jwks", "t1", True)


def test_add_from_file_keeps_only_public_members(tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    _run("add", "--iss", "https://ehr.example.org", "--jwks-file", str(path))
    jwks = TrustedCdsClient.objects.get().jwks
    assert jwks is not None
    stored = jwks["keys"][0]
    assert "d" not in stored and stored["kid"] == "k1"


def test_list_and_disable() -> None:
    _run("add", "--iss", ISS, "--jwks-url", "https://ehr.example.org/jwks")
    assert ISS in _run("list") and "enabled" in _run("list")
    assert "disabled" in _run("disable", "--iss", ISS)
    assert not TrustedCdsClient.objects.get().enabled
    assert "updated" in _run("add", "--iss", ISS, "--jwks-url", "https://ehr.example.org/jwks")
    assert TrustedCdsClient.objects.get().enabled  # add re-enables


@pytest.mark.parametrize(
    "args",
    [
        ("add", "--iss", ISS, "--jwks-url", "http://ehr.example.org/jwks"),  # plain http off loopback
        ("add", "--iss", ISS),  # no key source
        ("disable", "--iss", "https://nobody.example"),
    ],
)
def test_refusals(args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError):
        _run(*args)


def test_symmetric_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}))
    with pytest.raises(CommandError, match="EC and RSA"):
        _run("add", "--iss", ISS, "--jwks-file", str(path))
