"""Key material from the environment: Fernet keys for tokens at rest, HMAC keys for pseudonyms and the audit chain.

In development (no key set) keys are derived from SECRET_KEY with HKDF so the demo works out of
the box; production checks (config.checks) refuse to start without explicit keys.
"""

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _derive(purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"stratify-dev", info=purpose)
    return hkdf.derive(settings.SECRET_KEY.encode())


@lru_cache(maxsize=1)
def token_cipher() -> MultiFernet:
    """Cipher for secrets at rest; FIELD_ENCRYPTION_KEY may list several keys (newest first) to rotate."""
    configured = [k.strip() for k in settings.FIELD_ENCRYPTION_KEY.split(",") if k.strip()]
    keys = configured or [base64.urlsafe_b64encode(_derive(b"field-encryption")).decode()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


def encrypt_text(plain: str) -> str:
    """Encrypt a string for storage."""
    return token_cipher().encrypt(plain.encode()).decode()


def decrypt_text(cipher_text: str) -> str:
    """Decrypt a stored string."""
    return token_cipher().decrypt(cipher_text.encode()).decode()


@lru_cache(maxsize=1)
def _pseudonym_key() -> bytes:
    configured = settings.AUDIT_PSEUDONYM_KEY
    return configured.encode() if configured else _derive(b"audit-pseudonym")


def pseudonymize(value: str) -> str:
    """HMAC-SHA256 pseudonym of an identifier (for audit records and logs)."""
    return hmac.new(_pseudonym_key(), value.encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=1)
def audit_chain_key() -> bytes:
    """HMAC-SHA256 key of the audit hash chain and its checkpoints (AUDIT_CHAIN_KEY): the database never holds
    it, so whoever can write the audit table cannot forge a record or re-hash the chain after one."""
    configured = settings.AUDIT_CHAIN_KEY
    return configured.encode() if configured else _derive(b"audit-chain")
