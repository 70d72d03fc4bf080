"""The CDS client fixtures (keys, JWKS over loopback HTTP, a trusted client, signed JWTs, the shipped models) for
the integration tests that call the CDS service of a running server."""

from tests.cds_hooks.conftest import (  # noqa: F401 - fixtures, used by name
    client_key,
    jwks_server,
    make_token,
    models_installed,
    trusted_client,
)
