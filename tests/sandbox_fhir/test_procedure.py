"""Procedure is searchable (the readmission model counts a stay's procedures): patient, encounter, code, date."""

from typing import Any

from tests.sandbox_fhir.conftest import Fhir

U = "urn:uuid:00000000-0000-4000-8000-0000000000"


def _procedure(patient: str, encounter: str, code: str, start: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
        "subject": {"reference": patient},
        "encounter": {"reference": encounter},
        "performedPeriod": {"start": start, "end": start.replace("T10", "T11")},
    }


class ProcedureSearchTests:
    def test_search_by_patient_encounter_code_and_date(self, fhir: Fhir, golden: dict[str, str]) -> None:
        alice, bob, encounter = golden[f"{U}0a"], golden[f"{U}0b"], golden[f"{U}ea"]
        created = []
        for body in (
            _procedure(alice, encounter, "73761001", "2024-01-02T10:00:00Z"),
            _procedure(alice, encounter, "274031008", "2024-03-04T10:00:00Z"),
            _procedure(bob, "Encounter/none", "73761001", "2024-01-02T10:00:00Z"),
        ):
            if body["subject"]["reference"] == bob:
                del body["encounter"]
            response = fhir.send("POST", "Procedure", body)
            assert response.status_code == 201, response.content
            created.append(response.json()["id"])
        first, second, other = created
        alice_id = alice.split("/", 1)[1]
        assert set(fhir.ids(f"Procedure?patient={alice_id}")) == {first, second}
        assert set(fhir.ids(f"Procedure?subject={bob}")) == {other}
        assert set(fhir.ids(f"Procedure?encounter={encounter}")) == {first, second}
        assert fhir.ids(f"Procedure?patient={alice_id}&code=http://snomed.info/sct|274031008") == [second]
        assert fhir.ids(f"Procedure?patient={alice_id}&date=ge2024-02-01") == [second]
        assert fhir.ids(f"Procedure?patient={alice_id}&_sort=-date") == [second, first]

    def test_capability_statement_lists_procedure_search(self, fhir: Fhir) -> None:
        resources = {r["type"]: r for r in fhir.get("metadata").json()["rest"][0]["resource"]}
        procedure = resources["Procedure"]
        assert {"code": "search-type"} in procedure["interaction"]
        assert {"patient", "encounter", "code", "date"} <= {p["name"] for p in procedure["searchParam"]}
