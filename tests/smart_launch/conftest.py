"""Fixtures of the SMART launch tests: our client keys, a registration, an EHR signing key for id_tokens."""

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.core.cache import cache
from django.core.management import call_command
from joserfc.jwk import ECKey

from smart_launch.client import SmartConfiguration, _cache_key
from smart_launch.keys import client_keys_ensure
from smart_launch.models import EhrRegistration


@pytest.fixture
def client_keys(db: None) -> None:
    """An active RS384 and ES384 key of ours."""
    client_keys_ensure()


@pytest.fixture
def fake_iss() -> str:
    """A unique issuer per test so cached discovery never leaks between tests sharing Redis."""
    return f"https://ehr-{uuid.uuid4().hex[:12]}.example.org/fhir"


@pytest.fixture
def registration(db: None, fake_iss: str) -> EhrRegistration:
    """A confidential-asymmetric registration of `fake_iss`."""
    return EhrRegistration.objects.create(
        name="Test EHR", iss=fake_iss, client_id="stratify-sidebar", frame_ancestors="https://ehr.example.org"
    )


@pytest.fixture
def ehr_key() -> ECKey:
    """The EHR's id_token signing key."""
    key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, private=True)
    key.ensure_kid()
    return key


@pytest.fixture
def smart_config(fake_iss: str, ehr_key: ECKey) -> Iterator[SmartConfiguration]:
    """A discovered configuration (cached, as discovery would leave it) whose JWKS is `ehr_key`."""
    config = SmartConfiguration(
        iss=fake_iss,
        authorization_endpoint=f"{fake_iss}/auth/authorize",
        token_endpoint=f"{fake_iss}/auth/token",
        issuer=fake_iss,
        jwks_uri=f"{fake_iss}/jwks",
        capabilities=("permission-v2", "launch-ehr"),
        code_challenge_methods=("S256",),
    )
    jwks: dict[str, Any] = {"keys": [ehr_key.as_dict(private=False) | {"kid": ehr_key.kid}]}
    cache.set(_cache_key("jwks", config.jwks_uri), orjson.dumps(jwks), 600)
    cache.set(_cache_key("discovery", fake_iss), config.__dict__.copy(), 600)
    yield config
    cache.delete_many([_cache_key("jwks", config.jwks_uri), _cache_key("discovery", fake_iss)])


@pytest.fixture
def sandbox_patient_loader(settings: Any) -> Any:
    """Loads two real PhysioNet 2019 stays (one septic) into the sandbox FHIR store; returns the septic one's id."""

    def load() -> str:
        from pathlib import Path

        from django.core.management import call_command

        from sandbox_ehr.fhir.loader import physionet

        path = Path(settings.SHARED_DATA) / "physionet2019" / "physionet2019_training_setA.csv.gz"
        call_command("load_sandbox_data", "--physionet", "2", "--set", "A", "--no-synthea", verbosity=0)
        septic = next(s for s in physionet.stays_select(path, 2) if s.septic)
        return physionet.patient_fhir_id(septic.patient)

    return load


@pytest.fixture
def sandbox(live_server: Any, settings: Any, sandbox_patient_loader: Any) -> dict[str, str]:
    """The sandbox EHR on the live server, our registration and keys, and one loaded patient."""
    settings.PUBLIC_BASE_URL = live_server.url
    call_command("install_models", verbosity=0)
    call_command("sandbox_setup", verbosity=0)
    call_command("smart_demo_setup", verbosity=0)
    patient_id = sandbox_patient_loader()
    return {"base": live_server.url, "iss": f"{live_server.url}/sandbox/fhir", "patient": patient_id}
