"""Feedback (https://cds-hooks.hl7.org/2.0/#feedback) and the alert-burden view in Django admin."""

import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from audit.models import AuditRecord
from cds_hooks.models import CardFeedback, IssuedCard, TrustedCdsClient
from cds_hooks.selectors import alert_burden
from cds_hooks.services.cards import override_reason_system
from tests.cds_hooks.conftest import CLIENT_ISS, TokenFactory, physionet_stay_resources
from tests.cds_hooks.test_service import _call, _prefetch, _request

pytestmark = [pytest.mark.django_db, pytest.mark.integration]
SERVICE = "stratify-news2"


def _feedback(make_token: TokenFactory, items: list[dict[str, Any]], service: str = SERVICE) -> Any:
    path = f"/cds-services/{service}/feedback"
    return Client().post(
        path,
        data=orjson.dumps({"feedback": items}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {make_token(path)}",
    )


def _issue_card(make_token: TokenFactory) -> str:
    resources = physionet_stay_resources()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    response = _call(make_token, SERVICE, _request(patient_id, _prefetch(resources)))
    assert response.status_code == 200
    return str(response.json()["cards"][0]["uuid"])


def test_overridden_with_reason_and_comment(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    card = _issue_card(make_token)
    response = _feedback(
        make_token,
        [
            {
                "card": card,
                "outcome": "overridden",
                "outcomeTimestamp": "2030-01-01T10:00:00Z",
                "overrideReason": {
                    "reason": {"system": override_reason_system(), "code": "already-addressed"},
                    "userComment": "Sepsis bundle already started.",
                },
            }
        ],
    )
    assert response.status_code == 200 and response.json() == {"stored": 1}
    stored = CardFeedback.objects.get()
    assert (stored.outcome, stored.reason_code, stored.user_comment) == (
        "overridden",
        "already-addressed",
        "Sepsis bundle already started.",
    )
    assert IssuedCard.objects.get(uuid=card).outcome == "overridden"
    record = AuditRecord.objects.filter(action="feedback").get()
    assert record.output_summary["reason"] == "already-addressed" and record.patient_pseudonym


def test_accepted_then_alert_burden(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    accepted, overridden, _ignored = (_issue_card(make_token) for _ in range(3))
    assert (
        _feedback(
            make_token,
            [
                {
                    "card": accepted,
                    "outcome": "accepted",
                    "outcomeTimestamp": "2030-01-01T10:00:00Z",
                    "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
                },
                {"card": overridden, "outcome": "overridden", "outcomeTimestamp": "2030-01-01T10:00:00Z"},
            ],
        ).status_code
        == 200
    )
    [row] = alert_burden()  # the third card was issued seconds ago: awaiting feedback, not ignored (it was)
    assert (row["service_id"], row["issued"], row["accepted"], row["overridden"], row["ignored"], row["awaiting"]) == (
        SERVICE,
        3,
        1,
        1,
        0,
        1,
    )
    IssuedCard.objects.filter(uuid=_ignored).update(issued_at=timezone.now() - timedelta(minutes=61))
    [row] = alert_burden()  # no feedback within the 60-minute window: ignored
    assert (row["ignored"], row["awaiting"]) == (1, 0)


def test_unknown_card_is_404_and_nothing_is_stored(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    card = _issue_card(make_token)
    response = _feedback(
        make_token,
        [
            {"card": card, "outcome": "accepted", "outcomeTimestamp": "2030-01-01T10:00:00Z"},
            {"card": str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": "2030-01-01T10:00:00Z"},
        ],
    )
    assert response.status_code == 404
    assert response.json()["code"] == "card_not_found" and set(response.json()) == {"message", "code", "extra"}
    assert not CardFeedback.objects.exists()  # all or nothing


def test_card_of_another_service_is_not_found(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    card = _issue_card(make_token)
    response = _feedback(
        make_token,
        [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2030-01-01T10:00:00Z"}],
        service="stratify-sepsis",
    )
    assert response.status_code == 404


def test_invalid_feedback_is_400(trusted_client: TrustedCdsClient, make_token: TokenFactory) -> None:
    response = _feedback(make_token, [{"card": "x", "outcome": "dismissed", "outcomeTimestamp": "2030-01-01"}])
    assert response.status_code == 400 and response.json()["extra"]["fields"]
    assert _feedback(make_token, []).status_code == 400


def test_admin_changelist_shows_alert_burden(
    models_installed: None, trusted_client: TrustedCdsClient, make_token: TokenFactory
) -> None:
    _issue_card(make_token)
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    browser = Client()
    browser.force_login(admin)
    page = browser.get("/admin/cds_hooks/issuedcard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="alert-burden"' in html and SERVICE in html
    assert browser.get("/admin/cds_hooks/trustedcdsclient/").status_code == 200
    assert CLIENT_ISS in browser.get("/admin/cds_hooks/trustedcdsclient/").content.decode()
