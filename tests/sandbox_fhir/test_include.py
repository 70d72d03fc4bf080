"""`_include` on search (R4 search.html#include): included resources, de-duplication, access control, errors."""

from typing import Any

from tests.sandbox_fhir.conftest import Fhir

U = "urn:uuid:00000000-0000-4000-8000-0000000000"


def _key(golden: dict[str, str], suffix: str) -> str:
    return golden[f"{U}{suffix}"]


def _modes(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.content
    return [
        (f"{e['resource']['resourceType']}/{e['resource']['id']}", e["search"]["mode"])
        for e in response.json()["entry"]
    ]


def _outcome(response: Any, text: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and text in body["issue"][0]["diagnostics"]


class IncludeTests:
    def test_encounter_and_patient_are_included_once(self, fhir: Fhir, golden: dict[str, str]) -> None:
        alice = _key(golden, "0a")
        response = fhir.get(f"Observation?patient={alice}&_include=Observation:encounter&_include=Observation:patient")
        modes = _modes(response)
        matches = [k for k, m in modes if m == "match"]
        assert len(matches) == 7 and response.json()["total"] == 7
        assert [(k, m) for k, m in modes if m == "include"] == [(_key(golden, "ea"), "include"), (alice, "include")]
        full = {e["fullUrl"] for e in response.json()["entry"]}
        assert f"http://testserver/sandbox/fhir/{alice}" in full

    def test_include_on_other_types_and_target_type(self, fhir: Fhir, golden: dict[str, str]) -> None:
        alice = _key(golden, "0a")
        assert _modes(fhir.get("MedicationRequest?_include=MedicationRequest:subject:Patient")) == [
            (_key(golden, "d1"), "match"),
            (alice, "include"),
        ]
        assert _modes(fhir.get("Encounter?_include=Encounter:patient")) == [
            (_key(golden, "ea"), "match"),
            (_key(golden, "eb"), "match"),
            (alice, "include"),
            (_key(golden, "0b"), "include"),
        ]
        only = _modes(fhir.get(f"Observation?patient={alice}&_include=Observation:encounter:Practitioner"))
        assert all(m == "match" for _, m in only)

    def test_a_match_is_not_repeated_as_include(self, fhir: Fhir, golden: dict[str, str]) -> None:
        assert _modes(fhir.get("Encounter?_include=Encounter:patient&_id=" + _key(golden, "ea").split("/")[1])) == [
            (_key(golden, "ea"), "match"),
            (_key(golden, "0a"), "include"),
        ]

    def test_without_include_nothing_is_added(self, fhir: Fhir, golden: dict[str, str]) -> None:
        assert {m for _, m in _modes(fhir.get(f"Observation?patient={_key(golden, '0a')}"))} == {"match"}

    def test_deleted_targets_are_not_included(self, fhir: Fhir, golden: dict[str, str]) -> None:
        assert fhir.send("DELETE", _key(golden, "ea"), "").status_code == 204
        modes = _modes(fhir.get(f"Observation?patient={_key(golden, '0a')}&_include=Observation:encounter"))
        assert {m for _, m in modes} == {"match"}


class IncludeAccessTests:
    def test_another_patients_resource_is_never_included(
        self, fhir: Fhir, fhir_as: Any, golden: dict[str, str]
    ) -> None:
        alice, bobs_encounter = _key(golden, "0a"), _key(golden, "eb")
        odd = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": alice},
            "encounter": {"reference": bobs_encounter},
        }
        assert fhir.send("POST", "Observation", odd).status_code == 201
        as_alice = fhir_as("patient/*.rs launch/patient", patient_id=alice.split("/")[1])
        included = [k for k, m in _modes(as_alice.get("Observation?_include=Observation:encounter")) if m == "include"]
        assert included == [_key(golden, "ea")]
        everything = [
            k
            for k, m in _modes(fhir.get(f"Observation?patient={alice}&_include=Observation:encounter"))
            if m == "include"
        ]
        assert everything == [_key(golden, "ea"), bobs_encounter]

    def test_types_the_token_cannot_read_are_left_out(self, fhir_as: Any, golden: dict[str, str]) -> None:
        alice = _key(golden, "0a")
        fhir = fhir_as("system/Observation.rs")
        modes = _modes(
            fhir.get(f"Observation?patient={alice}&_include=Observation:encounter&_include=Observation:patient")
        )
        assert {m for _, m in modes} == {"match"}


class IncludeErrorTests:
    def test_unsupported_values_name_themselves(self, fhir: Fhir, golden: dict[str, str]) -> None:
        _outcome(fhir.get("Observation?_include=Observation:code"), "_include 'Observation:code' is not supported")
        _outcome(fhir.get("Observation?_include=Encounter:patient"), "'Encounter:patient'")
        _outcome(fhir.get("Observation?_include=Observation:nope"), "'Observation:nope'")
        _outcome(fhir.get("Observation?_include=*"), "'*'")
        _outcome(fhir.get("Observation?_include=Observation:patient:Group"), "'Observation:patient:Group'")
        _outcome(fhir.get("Patient?_include=Patient:organization"), "'Patient:organization'")

    def test_modifiers_other_than_iterate_are_refused(self, fhir: Fhir) -> None:
        _outcome(
            fhir.get("Encounter?_include:recurse=Encounter:patient"),
            "'_include:recurse=Encounter:patient' is not supported (the only modifier is :iterate)",
        )
        _outcome(fhir.get("Patient?_revinclude:reverse=Observation:patient"), "'_revinclude:reverse=")

    def test_capability_statement_lists_include_and_delete(self, fhir: Fhir) -> None:
        body = fhir.get("metadata").json()
        observation = next(r for r in body["rest"][0]["resource"] if r["type"] == "Observation")
        assert {"Observation:patient", "Observation:subject", "Observation:encounter"} == set(
            observation["searchInclude"]
        )
        assert {"code": "delete"} in observation["interaction"]
        patient = next(r for r in body["rest"][0]["resource"] if r["type"] == "Patient")
        assert "searchInclude" not in patient
