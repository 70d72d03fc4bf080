"""Our private_key_jwt signing keys (RS384 and ES384): generation, rotation by kid, public JWKS.

SMART App Launch 2.x "Client Authentication: Asymmetric" requires RS384 or ES384 and a JWKS the
authorization server can fetch (https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html).
"""

from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from joserfc.jwk import ECKey, RSAKey

from config.keys import decrypt_text, encrypt_text
from smart_launch.models import ClientKey

ALGORITHMS = (ClientKey.Algorithm.RS384, ClientKey.Algorithm.ES384)
RSA_BITS = 3072


def _generate(alg: str) -> RSAKey | ECKey:
    params: Any = {"alg": alg, "use": "sig"}
    if alg == ClientKey.Algorithm.RS384:
        key: RSAKey | ECKey = RSAKey.generate_key(RSA_BITS, parameters=params, private=True)
    else:
        key = ECKey.generate_key("P-384", parameters=params, private=True)
    key.ensure_kid()  # RFC 7638 thumbprint
    return key


def client_key_create(*, alg: str) -> ClientKey:
    """Generate and store one active key; the private JWK is encrypted with config.keys."""
    key = _generate(alg)
    public = {**key.as_dict(private=False), "kid": key.kid, "alg": alg, "use": "sig"}
    private = key.as_dict(private=True)
    return ClientKey.objects.create(
        kid=str(key.kid), alg=alg, public_jwk=public, private_jwk_encrypted=encrypt_text(orjson.dumps(private).decode())
    )


@transaction.atomic
def client_keys_rotate() -> list[ClientKey]:
    """Retire every active key and make a fresh RS384 and ES384 pair."""
    ClientKey.objects.filter(active=True).update(active=False, retired_at=timezone.now())
    return [client_key_create(alg=alg) for alg in ALGORITHMS]


def client_keys_ensure() -> list[ClientKey]:
    """Create an active key for each algorithm that has none (idempotent)."""
    made = []
    for alg in ALGORITHMS:
        if not ClientKey.objects.filter(active=True, alg=alg).exists():
            made.append(client_key_create(alg=alg))
    return made


def public_jwks() -> dict[str, list[dict[str, Any]]]:
    """Active keys plus keys retired within the grace period, public parts only."""
    cutoff = timezone.now() - timedelta(days=settings.SMART_RETIRED_KEY_GRACE_DAYS)
    keys = ClientKey.objects.filter(Q(active=True) | Q(retired_at__gte=cutoff)).order_by("-created_at")
    return {"keys": [dict(k.public_jwk) for k in keys]}


def signing_key(*, preferred_algs: tuple[str, ...] = ("ES384", "RS384")) -> tuple[RSAKey | ECKey, str, str]:
    """(private key, alg, kid) of the newest active key, preferring the first supported algorithm."""
    for alg in preferred_algs:
        record = ClientKey.objects.filter(active=True, alg=alg).order_by("-created_at").first()
        if record is None:
            continue
        data = orjson.loads(decrypt_text(record.private_jwk_encrypted))
        key_class = RSAKey if alg == ClientKey.Algorithm.RS384 else ECKey
        return key_class.import_key(data), alg, record.kid
    raise LookupError("no active client signing key: run `manage.py smart_keys rotate`")
