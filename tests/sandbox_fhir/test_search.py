"""Search semantics on the golden data: references, tokens, dates, status, sorting, paging, errors."""

from typing import Any
from urllib.parse import quote

import pytest

from tests.sandbox_fhir.conftest import Fhir

U = "urn:uuid:00000000-0000-4000-8000-0000000000"


def _id(golden: dict[str, str], suffix: str) -> str:
    return golden[f"{U}{suffix}"].split("/", 1)[1]


def _obs(golden: dict[str, str], *numbers: int) -> set[str]:
    return {_id(golden, f"{n:02d}") for n in numbers}


@pytest.fixture
def alice(golden: dict[str, str]) -> str:
    return _id(golden, "0a")


class PatientParameterTests:
    def test_bare_id_and_reference_forms_match_the_same(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        expected = _obs(golden, 1, 2, 3, 4, 5, 6, 7)
        assert set(fhir.ids(f"Observation?patient={alice}")) == expected
        assert set(fhir.ids(f"Observation?patient=Patient/{alice}")) == expected
        assert set(fhir.ids(f"Observation?subject=Patient/{alice}")) == expected
        assert set(fhir.ids(f"Observation?subject:Patient={alice}")) == expected

    def test_other_patient_and_unknown_patient(self, fhir: Fhir, golden: dict[str, str]) -> None:
        assert set(fhir.ids(f"Observation?patient={_id(golden, '0b')}")) == _obs(golden, 8)
        assert fhir.ids("Observation?patient=does-not-exist") == []
        assert fhir.ids("Observation?subject=Group/1") == []

    def test_compartment_of_other_types(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        assert fhir.ids(f"Encounter?patient={alice}") == [_id(golden, "ea")]
        assert fhir.ids(f"Condition?patient={alice}") == [_id(golden, "c1")]
        assert fhir.ids(f"MedicationRequest?subject=Patient/{alice}") == [_id(golden, "d1")]


class TokenTests:
    @pytest.mark.parametrize("code", ["http://loinc.org|8867-4", "8867-4"])
    def test_code_with_and_without_system(self, fhir: Fhir, golden: dict[str, str], alice: str, code: str) -> None:
        assert set(fhir.ids(f"Observation?patient={alice}&code={quote(code)}")) == _obs(golden, 1, 2, 3, 7)

    def test_empty_system_means_no_system(self, fhir: Fhir, alice: str) -> None:
        assert fhir.ids(f"Observation?patient={alice}&code=|8867-4") == []

    def test_system_only_matches_any_code_of_it(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        assert len(fhir.ids(f"Observation?patient={alice}&code={quote('http://loinc.org|')}")) == 7

    def test_comma_list_is_or(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        codes = quote("http://loinc.org|9279-1,http://loinc.org|2524-7")
        assert set(fhir.ids(f"Observation?patient={alice}&code={codes}")) == _obs(golden, 4, 5)

    def test_any_coding_matches(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        assert set(fhir.ids(f"Observation?patient={alice}&code=59408-5")) == _obs(golden, 6)

    def test_category_and_code_and(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        assert set(fhir.ids(f"Observation?patient={alice}&category=laboratory")) == _obs(golden, 5)
        category = quote("http://terminology.hl7.org/CodeSystem/observation-category|vital-signs")
        assert set(fhir.ids(f"Observation?patient={alice}&category={category}&code=9279-1")) == _obs(golden, 4)

    def test_status(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        assert set(fhir.ids(f"Observation?patient={alice}&status=entered-in-error")) == _obs(golden, 7)
        assert len(fhir.ids(f"Observation?patient={alice}&status=final,amended")) == 6

    def test_identifier_and_id(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        assert fhir.ids(f"Patient?identifier={quote('urn:test:mrn|MRN-A')}") == [alice]
        assert fhir.ids("Patient?identifier=MRN-B") == [_id(golden, "0b")]
        assert fhir.ids(f"Patient?identifier={quote('urn:other|MRN-A')}") == []
        assert set(fhir.ids(f"Patient?_id={alice},{_id(golden, '0b')}")) == {alice, _id(golden, "0b")}

    def test_condition_and_encounter_tokens(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        assert fhir.ids(f"Condition?patient={alice}&clinical-status=active&code=44054006") == [_id(golden, "c1")]
        assert fhir.ids("Encounter?class=IMP") == [_id(golden, "ea")]
        assert fhir.ids(f"Observation?encounter={_id(golden, 'eb')}") == [_id(golden, "08")]

    def test_patient_name_prefix(self, fhir: Fhir, alice: str) -> None:
        assert fhir.ids("Patient?name=testp") == [alice]
        assert fhir.ids("Patient?family:exact=testperson") == [alice]
        assert fhir.ids("Patient?name=nobody") == []


class DateTests:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("date=2024-03-02", {2, 4, 5, 6}),
            ("date=eq2024-03-02", {2, 4, 5, 6}),
            ("date=ge2024-03-02T10:30:00Z", {3, 4, 5, 6, 7}),
            ("date=gt2024-03-02", {3, 7}),
            ("date=lt2024-03-02", {1}),
            ("date=le2024-03-02T10:00:00Z", {1, 2}),
            ("date=ge2024-03-02&date=lt2024-03-03", {2, 4, 5, 6}),
            ("date=2024-03-01,2024-03-03", {1, 3, 7}),
            ("date=ne2024-03-02", {1, 3, 7}),
            ("date=ge2024-03", {1, 2, 3, 4, 5, 6, 7}),
            ("date=2024-03-02T10:00:00%2B02:00", set()),
            ("date=2024-03-02T12:00:00%2B02:00", {2}),
        ],
    )
    def test_prefixes(self, fhir: Fhir, golden: dict[str, str], alice: str, query: str, expected: set[int]) -> None:
        assert set(fhir.ids(f"Observation?patient={alice}&{query}")) == _obs(golden, *expected)

    def test_open_period_matches_later_dates(self, fhir: Fhir, golden: dict[str, str]) -> None:
        assert fhir.ids("Encounter?date=ge2030-01-01") == [_id(golden, "ea")]
        assert fhir.ids("Encounter?date=2024-02-10") == [_id(golden, "eb")]

    def test_partial_dates_of_other_types(self, fhir: Fhir, golden: dict[str, str]) -> None:
        assert fhir.ids("Condition?onset-date=2019") == [_id(golden, "c1")]
        assert fhir.ids("Condition?onset-date=2019-06-15") == []
        assert fhir.ids("MedicationRequest?authoredon=ge2024-03-01") == [_id(golden, "d1")]
        assert fhir.ids("Patient?birthdate=lt1955") == [_id(golden, "0a")]


class SortAndPagingTests:
    def test_sort_by_date(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        ascending = fhir.ids(f"Observation?patient={alice}&code=8867-4&_sort=date")
        descending = fhir.ids(f"Observation?patient={alice}&code=8867-4&_sort=-date")
        assert ascending == [_id(golden, n) for n in ("01", "02", "03", "07")]
        assert descending == list(reversed(ascending))

    def test_count_and_next_links_walk_every_match_once(self, fhir: Fhir, alice: str) -> None:
        response = fhir.get(f"Observation?patient={alice}&_sort=-date&_count=3")
        bundle: dict[str, Any] = response.json()
        assert response["Content-Type"].startswith("application/fhir+json")
        assert bundle["type"] == "searchset" and bundle["total"] == 7
        seen = []
        while True:
            seen += [e["resource"]["id"] for e in bundle["entry"]]
            assert all(e["fullUrl"].startswith("http://testserver/sandbox/fhir/Observation/") for e in bundle["entry"])
            nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
            if not nxt:
                break
            assert nxt[0].startswith("http://testserver/sandbox/fhir/Observation?")
            bundle = fhir.get(nxt[0].removeprefix("http://testserver/sandbox/fhir/")).json()
        assert len(seen) == 7 and len(set(seen)) == 7

    def test_count_zero_gives_only_the_total(self, fhir: Fhir, alice: str) -> None:
        bundle = fhir.get(f"Observation?patient={alice}&_count=0").json()
        assert bundle["total"] == 7 and bundle["entry"] == []

    def test_entries_are_the_stored_resources(self, fhir: Fhir, golden: dict[str, str], alice: str) -> None:
        entry = fhir.get(f"Observation?patient={alice}&code=2524-7").json()["entry"][0]
        resource = entry["resource"]
        assert resource["subject"] == {"reference": f"Patient/{alice}"}
        assert resource["encounter"] == {"reference": golden[f"{U}ea"]}
        assert resource["meta"]["versionId"] == "1" and entry["search"] == {"mode": "match"}


class UnsupportedTests:
    @pytest.mark.parametrize(
        "query",
        [
            "Observation?foo=bar",
            "Observation?code:text=heart",
            "Observation?date=sa2024-01-01",
            "Observation?date=2024-13-01",
            "Observation?_sort=value",
            "Observation?_count=-1",
            "Observation?_count=many",
            "Observation?_format=xml",
            "Claim?patient=1",
            "Observation?_summary=true",
            "Observation?code=",
        ],
    )
    def test_answers_400_operation_outcome(self, fhir: Fhir, golden: dict[str, str], query: str) -> None:
        response = fhir.get(query)
        assert response.status_code == 400, query
        body = response.json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["severity"] == "error" and body["issue"][0]["diagnostics"]
