"""A hook's fhirServer must be one of the calling client's registered FHIR bases: never fetched otherwise.

Real listeners on loopback count the connections they accept (an internal FHIR port, a "Redis" port).
"""

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.test import Client

from audit.models import AuditRecord
from cds_hooks.models import TrustedCdsClient
from fhirapp.models import WriteBack
from tests.cds_hooks.conftest import TokenFactory, physionet_stay_resources
from tests.cds_hooks.test_service import _prefetch, _request
from tests.security.test_outbound import CountingListener

pytestmark = [pytest.mark.integration]


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    srv = CountingListener()
    yield srv
    srv.close()


@pytest.fixture
def redis_port() -> Iterator[CountingListener]:
    srv = CountingListener()
    yield srv
    srv.close()


# --- the CDS door: fhirServer must be one of the client's registered FHIR bases ------------------------


def _cds_call(make_token: TokenFactory, fhir_server: str) -> Any:
    resources = physionet_stay_resources()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    prefetch = _prefetch(resources)
    del prefetch["labs"]  # so that the call would fetch from fhirServer if it were allowed
    body = _request(
        patient_id,
        prefetch,
        fhirServer=fhir_server,
        fhirAuthorization={
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.rs",
            "subject": "s",
        },
    )
    path = "/cds-services/stratify-sepsis"
    return Client().post(
        path,
        data=orjson.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {make_token(path)}"},
    )


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["internal port", "redis port", "metadata"])
def test_unregistered_fhir_server_is_refused_and_never_contacted(
    which: str,
    models_installed: None,
    trusted_client: TrustedCdsClient,
    make_token: TokenFactory,
    listener: CountingListener,
    redis_port: CountingListener,
    settings: Any,
) -> None:
    settings.WRITEBACK_ENABLED = True
    target = {
        "internal port": f"{listener.url}/fhir",
        "redis port": redis_port.url,
        "metadata": "http://169.254.169.254/latest/meta-data",
    }[which]
    response = _cds_call(make_token, target)
    assert response.status_code == 403
    assert response.json() == {
        "message": "The fhirServer of this call is not registered for this CDS client.",
        "code": "fhir_server_not_registered",
        "extra": {"fhirServer": target},
    }
    record = AuditRecord.objects.filter(action="cds_auth_failure").latest("id")
    assert record.outcome == "denied" and record.detail["fhirServer"] == target
    assert record.detail["reason"] == "fhirServer not registered for this client"
    assert listener.accepted == 0 and redis_port.accepted == 0
    assert not WriteBack.objects.exists()


@pytest.mark.django_db
def test_registered_fhir_server_is_accepted(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory, settings: Any
) -> None:
    settings.WRITEBACK_ENABLED = False
    response = _cds_call(make_token, "https://ehr.example.org/fhir/")  # registered (a trailing slash is the same)
    assert response.status_code == 200  # the fetch of the labs fails (no such host), the card says so
    assert not AuditRecord.objects.filter(action="cds_auth_failure").exists()
