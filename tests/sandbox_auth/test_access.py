"""Sandbox access grants: bearer authentication and SMART v1/v2 scope checks."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone

from config.errors import AuthenticationFailed, ValidationFailed
from sandbox_ehr.auth.access import AccessGrant, authenticate_request, token_digest
from sandbox_ehr.auth.models import IssuedToken
from sandbox_ehr.auth.scopes import scope_intersect
from sandbox_ehr.auth.services import access_token_issue

pytestmark = pytest.mark.django_db


def _request(token: str | None):
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return RequestFactory().get("/sandbox/fhir/Patient", **headers)


class AuthenticateRequestTests:
    def test_valid_token_gives_grant_with_context(self):
        token = access_token_issue(
            client_id="c1",
            scope="patient/Observation.rs launch/patient",
            patient_id="p1",
            encounter_id="e1",
            fhir_user="Practitioner/x",
        )
        grant = authenticate_request(_request(token))
        assert grant.client_id == "c1"
        assert grant.patient_id == "p1"
        assert grant.encounter_id == "e1"
        assert grant.fhir_user == "Practitioner/x"
        assert grant.scopes == ("patient/Observation.rs", "launch/patient")

    def test_token_is_stored_only_as_hash(self):
        token = access_token_issue(client_id="c1", scope="system/*.rs")
        assert not IssuedToken.objects.filter(token_hash=token).exists()
        assert IssuedToken.objects.filter(token_hash=token_digest(token)).exists()

    @pytest.mark.parametrize("header", [None, "Basic abc", "Bearer ", "Bearer nonsense"])
    def test_missing_or_unknown_token_is_401(self, header):
        request = RequestFactory().get("/x", **({"HTTP_AUTHORIZATION": header} if header else {}))
        with pytest.raises(AuthenticationFailed):
            authenticate_request(request)

    def test_expired_token_is_401(self):
        token = access_token_issue(client_id="c1", scope="system/*.rs")
        IssuedToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        with pytest.raises(AuthenticationFailed):
            authenticate_request(_request(token))

    def test_revoked_token_is_401(self):
        token = access_token_issue(client_id="c1", scope="system/*.rs")
        IssuedToken.objects.update(revoked_at=timezone.now())
        with pytest.raises(AuthenticationFailed):
            authenticate_request(_request(token))

    def test_patient_scopes_need_a_patient(self):
        with pytest.raises(ValidationFailed):
            access_token_issue(client_id="c1", scope="patient/*.rs")

    def test_unknown_scope_refused(self):
        with pytest.raises(ValidationFailed):
            access_token_issue(client_id="c1", scope="system/*.read bogus")


class AccessGrantTests:
    @pytest.mark.parametrize(
        ("scope", "rtype", "interaction", "allowed"),
        [
            ("patient/Observation.rs", "Observation", "read", True),
            ("patient/Observation.rs", "Observation", "search", True),
            ("patient/Observation.rs", "Observation", "create", False),
            ("patient/Observation.rs", "Condition", "read", False),
            ("patient/*.cruds", "Condition", "update", True),
            ("patient/Observation.read", "Observation", "search", True),
            ("patient/Observation.read", "Observation", "create", False),
            ("patient/Observation.write", "Observation", "create", True),
            ("patient/Observation.write", "Observation", "read", False),
            ("user/*.*", "Encounter", "update", True),
            ("system/*.c", "RiskAssessment", "create", True),
            ("system/*.c", "RiskAssessment", "read", False),
            ("openid fhirUser", "Patient", "read", False),
            ("patient/Observation.rs?category=vital-signs", "Observation", "read", False),
        ],
    )
    def test_allows(self, scope, rtype, interaction, allowed):
        grant = AccessGrant.from_scope(client_id="c", scope=scope, patient_id="p")
        assert grant.allows(rtype, interaction) is allowed

    def test_patient_id_only_with_patient_scopes(self):
        assert AccessGrant.from_scope(client_id="c", scope="user/*.rs", patient_id="p").patient_id is None
        assert AccessGrant.from_scope(client_id="c", scope="patient/*.rs", patient_id="p").patient_id == "p"

    def test_patient_restricted(self):
        grant = AccessGrant.from_scope(client_id="c", scope="patient/*.rs user/Patient.r", patient_id="p")
        assert grant.patient_restricted("Observation", "read")
        assert not grant.patient_restricted("Patient", "read")

    def test_unknown_interaction_is_a_programming_error(self):
        with pytest.raises(ValueError):
            AccessGrant.from_scope(client_id="c", scope="user/*.rs").allows("Patient", "patch")


class ScopeIntersectTests:
    def test_downgrade_letters(self):
        assert scope_intersect("patient/*.cruds", "patient/*.rs") == ["patient/*.rs"]

    def test_specific_type_under_wildcard_keeps_v1_spelling(self):
        assert scope_intersect("patient/Observation.read", "patient/*.rs") == ["patient/Observation.read"]

    def test_v1_write_against_read_only_is_dropped(self):
        assert scope_intersect("patient/Observation.write launch", "patient/*.rs launch") == ["launch"]

    def test_context_must_match(self):
        assert scope_intersect("system/*.rs user/*.rs", "user/*.rs") == ["user/*.rs"]

    def test_launch_scopes_only_when_allowed(self):
        assert scope_intersect("openid fhirUser offline_access", "openid fhirUser") == ["openid", "fhirUser"]

    def test_union_of_allowed_letters(self):
        assert scope_intersect("system/*.cruds", "system/*.rs system/*.cu") == ["system/*.crus"]
