"""Trusted CDS client registry writes (used by `manage.py cds_client` and tests)."""

from collections.abc import Sequence
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.services import audit_record_create
from cds_hooks.models import TrustedCdsClient
from cds_hooks.trust import jwks_cache_key, jwks_url_allowed, trusted_clients_forget
from config.errors import ValidationFailed

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def public_jwks(jwks: dict[str, Any] | None) -> dict[str, Any] | None:
    """Only the public members of EC/RSA keys are kept: private or symmetric key material is refused."""
    if jwks is None:
        return None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise ValidationFailed("A JWKS is an object with a non-empty `keys` array.")
    if any(k.get("kty") not in ("EC", "RSA") for k in keys):
        raise ValidationFailed("Only EC and RSA public keys can identify a CDS client.")
    return {"keys": [{name: v for name, v in k.items() if name not in _PRIVATE_MEMBERS} for k in keys]}


def trusted_client_upsert(
    *,
    iss: str,
    jwks_url: str = "",
    jwks: dict[str, Any] | None = None,
    tenant: str = "",
    fhir_servers: Sequence[str] = (),
    actor: str = "manage.py",
) -> tuple[TrustedCdsClient, bool]:
    """Create or update (by iss) an enabled trusted client; returns (client, created). Idempotent.

    `fhir_servers`: the FHIR bases of the client's EHR (the only `fhirServer` values its hooks may name).
    """
    if jwks_url and not jwks_url_allowed(jwks_url):
        raise ValidationFailed("The JWKS URL must use https (http only on loopback).")
    with transaction.atomic():
        client = TrustedCdsClient.objects.select_for_update().filter(iss=iss).first()
        created = client is None
        client = client or TrustedCdsClient(iss=iss)
        client.jwks_url, client.jwks, client.tenant, client.enabled = jwks_url, public_jwks(jwks), tenant, True
        client.fhir_servers = "\n".join(fhir_servers)
        try:
            client.full_clean()
        except ValidationError as exc:
            raise ValidationFailed("The trusted client is invalid.", extra={"fields": exc.message_dict}) from exc
        client.save()
        audit_record_create(
            action="admin_change",
            actor=actor,
            detail={
                "object": "TrustedCdsClient",
                "iss": iss,
                "created": created,
                "enabled": True,
                "fhir_servers": list(client.fhir_server_list),
            },
        )
    if client.jwks_url:
        cache.delete(jwks_cache_key(client))
    trusted_clients_forget()
    return client, created


def trusted_client_disable(*, iss: str, actor: str = "manage.py") -> bool:
    """Disable a client (its calls are refused from now on); False when no such iss."""
    with transaction.atomic():
        updated = TrustedCdsClient.objects.filter(iss=iss).update(enabled=False)
        if updated:
            audit_record_create(
                action="admin_change", actor=actor, detail={"object": "TrustedCdsClient", "iss": iss, "enabled": False}
            )
    trusted_clients_forget()
    return bool(updated)
