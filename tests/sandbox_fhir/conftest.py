"""Fixtures for the sandbox FHIR server: golden data loaded through the transaction service, tokens, a client."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from sandbox_ehr.auth.services import access_token_issue
from sandbox_ehr.fhir.bundles import bundle_process
from sandbox_ehr.fhir.faults import fault_clear

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "fhir" / "sandbox" / "golden_transaction.json"
BASE = "/sandbox/fhir"
ALL_SCOPES = "system/*.cruds"


def golden_bundle() -> dict[str, Any]:
    """The hand-written synthetic transaction Bundle (two patients, encounters, observations...)."""
    return dict(json.loads(GOLDEN.read_text()))


class Fhir:
    """A Django test client speaking FHIR JSON with a bearer token."""

    def __init__(self, client: Client, token: str | None) -> None:
        self.client, self.token = client, token

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = {"Accept": "application/fhir+json", **extra}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(f"{BASE}/{path}", headers=self._headers(headers))

    def send(
        self, method: str, path: str, body: Any, content_type: str = "application/fhir+json", **headers: str
    ) -> Any:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return getattr(self.client, method.lower())(
            f"{BASE}/{path}", data=data, content_type=content_type, headers=self._headers(headers)
        )

    def ids(self, path: str) -> list[str]:
        response = self.get(path)
        assert response.status_code == 200, response.content
        return [e["resource"]["id"] for e in response.json().get("entry", [])]


@pytest.fixture(autouse=True)
def _no_faults() -> Any:
    fault_clear()
    yield
    fault_clear()


@pytest.fixture
def golden(db: None) -> dict[str, str]:
    """Load the golden Bundle; returns fullUrl -> 'Type/id' of what was created."""
    bundle = golden_bundle()
    response = bundle_process(bundle=bundle, grant=None, base_url="http://testserver/sandbox/fhir")
    return {
        e["fullUrl"]: r["response"]["location"].split("/_history")[0]
        for e, r in zip(bundle["entry"], response["entry"], strict=True)
    }


@pytest.fixture
def token_for(db: None) -> Callable[..., str]:
    def issue(scope: str = ALL_SCOPES, patient_id: str | None = None) -> str:
        return access_token_issue(client_id="sandbox-fhir-tests", scope=scope, patient_id=patient_id)

    return issue


@pytest.fixture
def fhir(client: Client, token_for: Callable[..., str]) -> Fhir:
    """A client with a system-level token allowed everything."""
    return Fhir(client, token_for())


@pytest.fixture
def fhir_as(client: Client, token_for: Callable[..., str]) -> Callable[..., Fhir]:
    def make(scope: str | None = ALL_SCOPES, patient_id: str | None = None) -> Fhir:
        return Fhir(client, token_for(scope, patient_id) if scope else None)

    return make
