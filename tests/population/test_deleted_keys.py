"""Reading a Bulk Data deleted[] file: the DELETE entries of its transaction Bundles; anything else is ignored."""

from pathlib import Path

import orjson

from population.services.data import deleted_keys


def test_only_delete_entries_with_a_type_and_id_count(tmp_path: Path) -> None:
    bundles = [
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "DELETE", "url": "Patient/a"}}],
        },
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"request": {"method": "DELETE", "url": "Observation/b"}},
                {"request": {"method": "PUT", "url": "Observation/c"}},
                {"request": {"method": "DELETE", "url": "Observation"}},
                {"request": "DELETE Observation/d"},
                "not an entry",
            ],
        },
        {"resourceType": "Bundle", "type": "transaction"},
    ]
    path = tmp_path / "deleted.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(b) for b in bundles) + b"\n\n")
    assert deleted_keys(path) == {("Patient", "a"), ("Observation", "b")}
