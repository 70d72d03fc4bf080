"""write_back_enqueue (idempotency key, on_commit, switches), the Bundle, backoff, selector, admin."""

from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import Group, User
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from audit.governance import governance_groups_setup
from audit.models import AuditRecord
from config.keys import decrypt_text
from fhirapp import resources
from fhirapp.errors import FhirDeadlineExceeded, FhirRequestRejected, FhirResponseTooLarge, FhirServerError
from fhirapp.models import WriteBack
from fhirapp.selectors import write_back_latest
from fhirapp.services.writeback import write_back_bundle, write_back_enqueue, write_back_key, write_back_submit
from fhirapp.services.writeback_policy import write_back_policy_get, write_back_policy_update
from fhirapp.tasks import TRANSIENT_ERRORS, write_back_send
from smart_launch.errors import DiscoveryFailed, DiscoveryUnavailable, TokenEndpointUnavailable, TokenExchangeFailed
from tests.fhirapp.conftest import AS_OF, Validate, news2_result, sepsis_result

pytestmark = pytest.mark.django_db
BASE = "https://ehr.example.org/fhir"


def _enqueue(**overrides: Any) -> WriteBack | None:
    kwargs: dict[str, Any] = dict(
        result=sepsis_result(),
        patient_id="pat-1",
        encounter_id="enc-1",
        fhir_base_url=BASE,
        source="cds",
        service_id="stratify-patient-view",
    )
    kwargs.update(overrides)
    return write_back_enqueue(**kwargs)


class EnqueueTests:
    def test_one_row_and_one_task_per_key(self, django_capture_on_commit_callbacks: Any) -> None:
        with django_capture_on_commit_callbacks() as callbacks:
            first = _enqueue()
            second = _enqueue()
        assert first is not None and second is not None and first.pk == second.pk
        assert len(callbacks) == 1
        assert WriteBack.objects.count() == 1
        assert first.idempotency_key == write_back_key(
            fhir_base_url=BASE,
            model_name="sepsis",
            model_version="2024.03.1",
            patient_id="pat-1",
            encounter_id="enc-1",
            input_digest="b" * 64,
        )
        assert first.status == "pending" and first.attempts == 0 and first.source == "cds"
        assert "pat-1" not in first.payload_encrypted and decrypt_text(first.patient_ref_encrypted) == "pat-1"

    def test_key_changes_with_what_was_assessed_never_with_the_time(self) -> None:
        base = dict(
            fhir_base_url=BASE,
            model_name="sepsis",
            model_version="1",
            patient_id="p",
            encounter_id="e",
            input_digest="d" * 64,
        )
        keys = {write_back_key(**base)}  # type: ignore[arg-type]
        for field, value in [
            ("fhir_base_url", "https://other.example/fhir"),
            ("model_version", "2"),
            ("patient_id", "q"),
            ("encounter_id", None),
            ("input_digest", "f" * 64),
            ("model_name", "news2"),
        ]:
            keys.add(write_back_key(**{**base, field: value}))  # type: ignore[arg-type]
        assert len(keys) == 7
        assert _enqueue(result=sepsis_result(as_of=AS_OF + timedelta(hours=1))) == _enqueue()

    def test_disabled_is_a_no_op(self, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
        settings.WRITEBACK_ENABLED = False
        with django_capture_on_commit_callbacks() as callbacks:
            assert _enqueue() is None
        assert callbacks == [] and not WriteBack.objects.exists()

    def test_shadow_and_unscored_are_not_written(self) -> None:
        assert _enqueue(result=sepsis_result(model_status="shadow")) is None
        assert _enqueue(result=sepsis_result(scored=False, probability=None, band=None)) is None
        assert not WriteBack.objects.exists()

    def test_latest_selector(self) -> None:
        assert write_back_latest(patient_id="pat-1", model_name="sepsis") is None
        _enqueue()
        newer = _enqueue(result=sepsis_result(input_digest="c" * 64, band="moderate"))
        _enqueue(result=news2_result())
        latest = write_back_latest(patient_id="pat-1", model_name="sepsis")
        assert latest is not None and newer is not None and latest.pk == newer.pk
        assert latest.error == ""
        assert write_back_latest(patient_id="pat-2", model_name="sepsis") is None


class PolicyTests:
    """One set of resources per new assessment: first, band changed, or changed inputs after the interval."""

    def _submit(self, **overrides: Any) -> Any:
        kwargs: dict[str, Any] = dict(
            result=sepsis_result(),
            patient_id="pat-1",
            encounter_id="enc-1",
            fhir_base_url=BASE,
            source="cds",
            service_id="stratify-sepsis",
        )
        return write_back_submit(**{**kwargs, **overrides})

    def test_first_then_same_inputs_never_again(self) -> None:
        first = self._submit(hook_instance="h1")
        assert first.written and first.reason == "first assessment for this patient and encounter"
        for i in range(9):  # the chart opened 10 times with unchanged data
            again = self._submit(hook_instance=f"h{i + 2}", result=sepsis_result(as_of=AS_OF + timedelta(minutes=i)))
            assert not again.written and again.write_back.pk == first.write_back.pk
        assert "same inputs" in again.note and "the current one is the assessment of 2024-03-05 14:30 UTC" in again.note
        assert WriteBack.objects.count() == 1

    def test_a_repeated_hook_instance_never_writes_again(self) -> None:
        assert self._submit(hook_instance="same").written
        again = self._submit(hook_instance="same", result=sepsis_result(input_digest="c" * 64, band="low"))
        assert not again.written and "already answered" in again.reason and WriteBack.objects.count() == 1

    def test_changed_band_writes_and_links_the_superseded_one(self) -> None:
        first = self._submit().write_back
        WriteBack.objects.filter(pk=first.pk).update(status="succeeded", resource_refs=["RiskAssessment/ra-1"])
        changed = self._submit(result=sepsis_result(input_digest="c" * 64, band="moderate"))
        assert changed.written and changed.reason == "band changed from high to moderate"
        assert changed.write_back.supersedes_id == first.pk and WriteBack.objects.filter(pk=first.pk).exists()
        provenance = orjson.loads(decrypt_text(changed.write_back.payload_encrypted))["entry"][2]["resource"]
        [revision] = [e for e in provenance["entity"] if e["role"] == "revision"]
        assert revision["what"] == {
            "reference": "RiskAssessment/ra-1",
            "type": "RiskAssessment",
            "identifier": {"system": resources.IDENTIFIER_SYSTEM, "value": first.idempotency_key},
        }

    def test_changed_inputs_in_the_same_band_wait_for_the_interval(self) -> None:
        first = self._submit().write_back
        held = self._submit(result=sepsis_result(input_digest="c" * 64))
        assert not held.written and "at most every 60 min" in held.reason and held.write_back.pk == first.pk
        WriteBack.objects.filter(pk=first.pk).update(created_at=first.created_at - timedelta(minutes=61))
        later = self._submit(result=sepsis_result(input_digest="d" * 64))
        assert later.written and later.reason.startswith("inputs changed")

    def test_policy_edits_keep_history_and_apply(self) -> None:
        policy = write_back_policy_update(
            policy=write_back_policy_get("sepsis"),
            changes={"min_interval_minutes": 0, "write_on_band_change": False},
            actor="ops",
            reason="tighter monitoring",
        )
        assert policy.changes.get().after == {"write_on_band_change": False, "min_interval_minutes": 0}
        assert AuditRecord.objects.get(action="admin_change").detail["what"] == "write-back policy"
        self._submit()
        assert self._submit(result=sepsis_result(input_digest="c" * 64)).written  # interval 0: every new input

    def test_another_encounter_is_a_first_assessment(self) -> None:
        self._submit()
        assert self._submit(encounter_id="enc-2").written


class BundleTests:
    def test_transaction_bundle_is_valid_and_stable(self, fhir_schema_validate: Validate) -> None:
        key = "ab" * 32
        bundle = write_back_bundle(sepsis_result(), patient_id="pat-1", encounter_id="enc-1", key=key, recorded=AS_OF)
        assert fhir_schema_validate(bundle) == []
        assert bundle == write_back_bundle(
            sepsis_result(), patient_id="pat-1", encounter_id="enc-1", key=key, recorded=AS_OF
        )
        ra, obs, prov = bundle["entry"]
        assert bundle["type"] == "transaction"
        assert ra["request"]["ifNoneExist"] == f"identifier={resources.IDENTIFIER_SYSTEM}|{key}"
        assert obs["request"]["ifNoneExist"] == ra["request"]["ifNoneExist"]
        assert [t["reference"] for t in prov["resource"]["target"]] == [ra["fullUrl"], obs["fullUrl"]]
        assert all(e["fullUrl"].startswith("urn:uuid:") for e in bundle["entry"])

    def test_stored_payload_is_the_bundle(self) -> None:
        write_back = _enqueue()
        assert write_back is not None
        payload = orjson.loads(decrypt_text(write_back.payload_encrypted))
        assert [e["resource"]["resourceType"] for e in payload["entry"]] == [
            "RiskAssessment",
            "Observation",
            "Provenance",
        ]


class RetryPolicyTests:
    """Celery's autoretry runs the policy; what we own is which errors are transient and the settings."""

    def test_max_retries_follows_the_setting(self, settings: Any) -> None:
        settings.WRITEBACK_MAX_RETRIES = 4
        assert write_back_send.max_retries == 4
        assert write_back_send.retry_jitter is True and write_back_send.retry_backoff

    @pytest.mark.parametrize(
        "error",
        [
            FhirServerError(extra={"upstream_status": 503}),
            FhirServerError(extra={"upstream_status": 429}),
            FhirDeadlineExceeded(),
            DiscoveryUnavailable("down", what_to_do="wait"),
            TokenEndpointUnavailable("down"),
            OperationalError("connection lost"),
        ],
    )
    def test_transient_errors_retry(self, error: Exception) -> None:
        assert isinstance(error, TRANSIENT_ERRORS)

    @pytest.mark.parametrize(
        "error",
        [
            FhirRequestRejected(extra={"upstream_status": 400}),
            FhirResponseTooLarge(),
            DiscoveryFailed("no endpoints", what_to_do="ask"),
            TokenExchangeFailed("invalid_client"),
            ValueError(),
        ],
    )
    def test_definite_errors_do_not(self, error: Exception) -> None:
        assert not isinstance(error, TRANSIENT_ERRORS)


class WriteBackAdminTests:
    def _admin_client(self) -> Client:
        governance_groups_setup()
        user = User.objects.create_user("ops", password="pw-123456789", is_staff=True)
        user.groups.add(Group.objects.get(name="admin"))
        client = Client()
        client.force_login(user)
        return client

    def test_retry_action_requeues_failed_and_is_audited(self, django_capture_on_commit_callbacks: Any) -> None:
        write_back = _enqueue()
        assert write_back is not None
        WriteBack.objects.filter(pk=write_back.pk).update(
            status="failed",
            last_error={"message": "rejected", "code": "upstream_fhir_rejected", "extra": {"upstream_status": 400}},
        )
        client = self._admin_client()
        failed_list = client.get(reverse("admin:fhirapp_failedwriteback_changelist"))
        assert failed_list.status_code == 200 and b"rejected" in failed_list.content
        with django_capture_on_commit_callbacks() as callbacks:
            client.post(
                reverse("admin:fhirapp_writeback_changelist"), {"action": "retry", "_selected_action": [write_back.pk]}
            )
        assert len(callbacks) == 1
        assert WriteBack.objects.get(pk=write_back.pk).status == "pending"
        change = AuditRecord.objects.get(action="admin_change")
        assert change.actor == "admin:ops"
        assert change.detail["model"] == "fhirapp.writeback" and change.detail["object_id"] == str(write_back.pk)

    def test_no_add_or_delete(self) -> None:
        client = self._admin_client()
        assert client.get(reverse("admin:fhirapp_writeback_add")).status_code == 403
