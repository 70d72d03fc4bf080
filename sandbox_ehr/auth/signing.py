"""Sandbox signing keys: RS256 for id_tokens, ES384 for the simulator's CDS Hooks JWTs.

Private keys live in the database encrypted with config.keys (Fernet); the public halves are
published as one JWKS at /sandbox/ehr/.well-known/jwks.json.
"""

import time
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from config.keys import decrypt_text, encrypt_text
from sandbox_ehr.auth.models import SigningKey

_ALGORITHMS = {SigningKey.Purpose.ID_TOKEN: "RS256", SigningKey.Purpose.CDS_CLIENT: "ES384"}


def _generate(alg: str) -> RSAKey | ECKey:
    return RSAKey.generate_key(2048, private=True) if alg == "RS256" else ECKey.generate_key("P-384", private=True)


def signing_key_ensure(purpose: str) -> tuple[SigningKey, bool]:
    """The key for `purpose`, created on first use; returns (row, created). Idempotent."""
    existing = SigningKey.objects.filter(purpose=purpose).first()
    if existing:
        return existing, False
    alg = _ALGORITHMS[SigningKey.Purpose(purpose)]
    key = _generate(alg)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    pem = key.as_pem(private=True).decode()
    try:
        with transaction.atomic():
            row = SigningKey.objects.create(
                purpose=purpose, kid=kid, alg=alg, public_jwk=public, private_pem_encrypted=encrypt_text(pem)
            )
    except IntegrityError:  # a concurrent setup created it first
        return SigningKey.objects.get(purpose=purpose), False
    return row, True


def _private(row: SigningKey) -> RSAKey | ECKey:
    pem = decrypt_text(row.private_pem_encrypted)
    return RSAKey.import_key(pem) if row.alg.startswith("RS") else ECKey.import_key(pem)


def jwks() -> dict[str, Any]:
    """The public JWKS of every sandbox signing key."""
    return {"keys": [row.public_jwk for row in SigningKey.objects.order_by("purpose")]}


def jwt_sign(purpose: str, claims: dict[str, Any], *, lifetime: int = 300) -> str:
    """Sign claims with the sandbox key for `purpose`, adding iat, exp and jti when absent."""
    row, _ = signing_key_ensure(purpose)
    now = int(time.time())
    full = {"iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex, **claims}
    header = {"alg": row.alg, "kid": row.kid, "typ": "JWT"}
    return jwt.encode(header, full, _private(row), algorithms=[row.alg])
