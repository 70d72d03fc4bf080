"""`_revinclude` and `:iterate` on search (R4 search.html#include): what they add, bounds, access control, errors."""

from typing import Any

import pytest

from tests.sandbox_fhir.conftest import Fhir
from tests.sandbox_fhir.test_include import _key, _modes, _outcome

ALICES_OBSERVATIONS = ["01", "02", "03", "04", "05", "06", "07"]


def _keys(golden: dict[str, str], *suffixes: str) -> list[str]:
    return [_key(golden, s) for s in suffixes]


def _rid(golden: dict[str, str], suffix: str) -> str:
    return _key(golden, suffix).split("/")[1]


def _included(response: Any) -> list[str]:
    return [k for k, m in _modes(response) if m == "include"]


def _too_costly(response: Any, text: str) -> None:
    _outcome(response, text)
    assert response.json()["issue"][0]["code"] == "too-costly"


class RevincludeTests:
    def test_patient_with_its_observations(self, fhir: Fhir, golden: dict[str, str]) -> None:
        response = fhir.get(f"Patient?_id={_rid(golden, '0a')}&_revinclude=Observation:subject")
        assert _modes(response) == [(_key(golden, "0a"), "match")] + [
            (k, "include") for k in _keys(golden, *ALICES_OBSERVATIONS)
        ]
        assert response.json()["total"] == 1
        assert _included(fhir.get(f"Patient?_id={_rid(golden, '0b')}&_revinclude=Observation:patient")) == [
            _key(golden, "08")
        ]

    def test_encounter_with_its_observations(self, fhir: Fhir, golden: dict[str, str]) -> None:
        assert _included(fhir.get(f"Encounter?_id={_rid(golden, 'ea')}&_revinclude=Observation:encounter")) == (
            _keys(golden, *ALICES_OBSERVATIONS)
        )
        both = _modes(fhir.get("Encounter?_revinclude=Observation:encounter"))
        assert [k for k, m in both if m == "match"] == _keys(golden, "ea", "eb")
        assert [k for k, m in both if m == "include"] == _keys(golden, *ALICES_OBSERVATIONS, "08")

    def test_several_revincludes_follow_their_order(self, fhir: Fhir, golden: dict[str, str]) -> None:
        response = fhir.get(
            f"Patient?_id={_rid(golden, '0a')}&_revinclude=MedicationRequest:patient"
            "&_revinclude=Condition:subject&_revinclude=Encounter:patient"
        )
        assert _included(response) == _keys(golden, "d1", "c1", "ea")

    def test_a_parameter_that_cannot_point_at_the_match_adds_nothing(self, fhir: Fhir, golden: dict[str, str]) -> None:
        alice = _rid(golden, "0a")
        assert _included(fhir.get(f"Patient?_id={alice}&_revinclude=Observation:encounter")) == []
        assert _included(fhir.get("Encounter?_revinclude=Observation:patient")) == []
        assert _included(fhir.get(f"Patient?_id={alice}&_revinclude=Observation:subject:Patient")) == (
            _keys(golden, *ALICES_OBSERVATIONS)
        )
        assert _included(fhir.get("Encounter?_revinclude=Observation:encounter:Practitioner")) == []

    def test_include_and_revinclude_together(self, fhir: Fhir, golden: dict[str, str]) -> None:
        response = fhir.get(
            f"Encounter?_id={_rid(golden, 'eb')}&_include=Encounter:patient&_revinclude=Observation:encounter"
        )
        assert _included(response) == _keys(golden, "0b", "08")

    def test_deleted_resources_are_not_added(self, fhir: Fhir, golden: dict[str, str]) -> None:
        assert fhir.send("DELETE", _key(golden, "01"), "").status_code == 204
        included = _included(fhir.get(f"Patient?_id={_rid(golden, '0a')}&_revinclude=Observation:subject"))
        assert included == _keys(golden, *ALICES_OBSERVATIONS[1:])

    def test_a_match_is_not_repeated(self, fhir: Fhir, golden: dict[str, str]) -> None:
        odd = {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": _key(golden, "0b")},
        }
        assert fhir.send("POST", "Encounter", odd).status_code == 201
        response = fhir.get(
            f"Encounter?patient={_rid(golden, '0b')}&_include=Encounter:patient&_revinclude:iterate=Encounter:patient"
        )
        assert [m for _, m in _modes(response)] == ["match", "match", "include"]


class IterateTests:
    def test_include_iterate_follows_included_resources(self, fhir: Fhir, golden: dict[str, str]) -> None:
        response = fhir.get(
            f"Observation?_id={_rid(golden, '01')}&_include=Observation:encounter&_include:iterate=Encounter:patient"
        )
        assert _modes(response) == [
            (_key(golden, "01"), "match"),
            (_key(golden, "ea"), "include"),
            (_key(golden, "0a"), "include"),
        ]

    def test_without_iterate_a_directive_applies_to_matches_only(self, fhir: Fhir, golden: dict[str, str]) -> None:
        alice = _rid(golden, "0a")
        assert _included(
            fhir.get(f"Patient?_id={alice}&_revinclude=Encounter:patient&_revinclude=Observation:encounter")
        ) == [_key(golden, "ea")]
        assert _included(
            fhir.get(f"Patient?_id={alice}&_revinclude=Encounter:patient&_revinclude:iterate=Observation:encounter")
        ) == (_keys(golden, "ea", *ALICES_OBSERVATIONS))

    def test_iterate_mixes_directions(self, fhir: Fhir, golden: dict[str, str]) -> None:
        response = fhir.get(
            "MedicationRequest?_include:iterate=MedicationRequest:patient&_revinclude:iterate=Condition:patient"
        )
        assert _modes(response) == [
            (_key(golden, "d1"), "match"),
            (_key(golden, "0a"), "include"),
            (_key(golden, "c1"), "include"),
        ]

    def test_iterated_matches_and_includes_appear_once(self, fhir: Fhir, golden: dict[str, str]) -> None:
        response = fhir.get(
            f"Observation?patient={_rid(golden, '0a')}&_count=3&_include=Observation:encounter"
            "&_revinclude:iterate=Observation:encounter&_include:iterate=Encounter:subject"
        )
        modes = _modes(response)
        assert [k for k, m in modes if m == "match"] == _keys(golden, "01", "02", "03")
        assert [k for k, m in modes if m == "include"] == _keys(golden, "ea", "04", "05", "06", "07", "0a")
        assert len({k for k, _ in modes}) == len(modes)

    def test_cycles_end(self, fhir: Fhir, golden: dict[str, str]) -> None:
        response = fhir.get(
            f"Encounter?_id={_rid(golden, 'ea')}&_include:iterate=Encounter:patient"
            "&_revinclude:iterate=Encounter:patient&_revinclude:iterate=Observation:subject"
        )
        assert _included(response) == _keys(golden, "0a", *ALICES_OBSERVATIONS)


class IncludeBoundTests:
    def test_rounds_are_bounded(self, fhir: Fhir, golden: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("sandbox_ehr.fhir.includes.MAX_INCLUDE_ROUNDS", 1)
        two_rounds = (
            f"Observation?_id={_rid(golden, '01')}&_include=Observation:encounter&_include:iterate=Encounter:patient"
        )
        _too_costly(fhir.get(two_rounds), ":iterate still adds resources after 1 rounds")
        assert _included(
            fhir.get(
                f"Observation?_id={_rid(golden, '01')}&_include=Observation:encounter"
                "&_include:iterate=Observation:patient"
            )
        ) == _keys(golden, "ea", "0a")
        monkeypatch.setattr("sandbox_ehr.fhir.includes.MAX_INCLUDE_ROUNDS", 2)
        assert _included(fhir.get(two_rounds)) == _keys(golden, "ea", "0a")

    def test_included_resources_are_bounded(
        self, fhir: Fhir, golden: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        query = f"Patient?_id={_rid(golden, '0a')}&_revinclude=Observation:subject"
        monkeypatch.setattr("sandbox_ehr.fhir.includes.MAX_INCLUDED", 6)
        _too_costly(fhir.get(query), "would add more than 6 resources")
        _too_costly(
            fhir.get(
                f"Encounter?_id={_rid(golden, 'ea')}&_include=Encounter:patient&_revinclude:iterate=Observation:subject"
            ),
            "more than 6",
        )
        monkeypatch.setattr("sandbox_ehr.fhir.includes.MAX_INCLUDED", 7)
        assert len(_included(fhir.get(query))) == 7

    def test_the_bound_counts_only_what_the_token_may_read(
        self, fhir: Fhir, fhir_as: Any, golden: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        observation = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "encounter": {"reference": _key(golden, "ea")},
        }
        for patient in ("0b", "0b", "0a"):  # two of Bob's before one more of Alice's, on her encounter
            subject = {"reference": _key(golden, patient)}
            assert fhir.send("POST", "Observation", {**observation, "subject": subject}).status_code == 201
        monkeypatch.setattr("sandbox_ehr.fhir.includes.MAX_INCLUDED", 8)
        as_alice = fhir_as("patient/*.rs launch/patient", patient_id=_rid(golden, "0a"))
        included = _included(as_alice.get("Encounter?_revinclude=Observation:encounter"))
        assert included[:7] == _keys(golden, *ALICES_OBSERVATIONS) and len(included) == 8
        monkeypatch.setattr("sandbox_ehr.fhir.includes.MAX_INCLUDED", 6)
        patients_only = fhir_as("system/Patient.rs").get(
            f"Patient?_id={_rid(golden, '0a')}&_revinclude=Observation:subject"
        )
        assert _modes(patients_only) == [(_key(golden, "0a"), "match")]


class RevincludeAccessTests:
    def test_another_patients_resource_is_never_added(self, fhir: Fhir, fhir_as: Any, golden: dict[str, str]) -> None:
        odd = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": _key(golden, "0b")},
            "encounter": {"reference": _key(golden, "ea")},
        }
        created = fhir.send("POST", "Observation", odd)
        assert created.status_code == 201
        odd_key = f"Observation/{created.json()['id']}"
        as_alice = fhir_as("patient/*.rs launch/patient", patient_id=_rid(golden, "0a"))
        assert _included(as_alice.get("Encounter?_revinclude=Observation:encounter")) == (
            _keys(golden, *ALICES_OBSERVATIONS)
        )
        assert _included(fhir.get(f"Encounter?_id={_rid(golden, 'ea')}&_revinclude=Observation:encounter")) == (
            [*_keys(golden, *ALICES_OBSERVATIONS), odd_key]
        )

    def test_types_the_token_cannot_read_are_left_out(self, fhir_as: Any, golden: dict[str, str]) -> None:
        fhir = fhir_as("system/Patient.rs")
        query = f"Patient?_id={_rid(golden, '0a')}&_revinclude=Observation:subject&_revinclude=Encounter:patient"
        assert {m for _, m in _modes(fhir.get(query))} == {"match"}
        assert _included(fhir_as("system/Patient.rs system/Encounter.rs").get(query)) == [_key(golden, "ea")]

    def test_iterate_does_not_follow_what_the_token_cannot_read(self, fhir_as: Any, golden: dict[str, str]) -> None:
        fhir = fhir_as("system/Observation.rs system/Patient.rs")
        response = fhir.get(
            f"Observation?_id={_rid(golden, '01')}&_include=Observation:encounter&_include:iterate=Encounter:patient"
        )
        assert {m for _, m in _modes(response)} == {"match"}


class RevincludeErrorTests:
    def test_unsupported_values_name_themselves(self, fhir: Fhir) -> None:
        _outcome(fhir.get("Patient?_revinclude=*"), "_revinclude '*' is not supported on a Patient search")
        _outcome(fhir.get("Patient?_revinclude=Goal:patient"), "'Goal:patient'")
        _outcome(fhir.get("Patient?_revinclude=Observation:code"), "'Observation:code'")
        _outcome(fhir.get("Patient?_revinclude=Observation:patient:Group"), "'Observation:patient:Group'")
        _outcome(fhir.get("Patient?_revinclude:iterate=Observation"), "_revinclude:iterate 'Observation'")
        _outcome(fhir.get("Observation?_include:iterate=Encounter:nope"), "_include:iterate 'Encounter:nope'")
        _outcome(fhir.get("Observation?_include=Encounter:patient"), "_include 'Encounter:patient'")

    def test_capability_statement_lists_revinclude_and_patch(self, fhir: Fhir) -> None:
        resources = {r["type"]: r for r in fhir.get("metadata").json()["rest"][0]["resource"]}
        patient, encounter = resources["Patient"]["searchRevInclude"], resources["Encounter"]["searchRevInclude"]
        assert {"Observation:subject", "Encounter:patient", "Condition:patient", "Provenance:target"} <= set(patient)
        assert "Observation:encounter" not in patient
        assert {"Observation:encounter", "Condition:encounter", "Provenance:target"} <= set(encounter)
        assert "Observation:subject" not in encounter
        assert all({"code": "patch"} in r["interaction"] for r in resources.values())
        assert "searchRevInclude" not in resources["Organization"]
