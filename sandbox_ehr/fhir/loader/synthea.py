"""Synthea R4 transaction bundles (shared/data/synthea, SMART Health IT sample data, Apache-2.0) -> the store.

Each bundle goes through the FHIR server's own transaction service. Synthea writes `POST [type]`
entries whose resources already carry their `urn:uuid` as `id`; they are sent as `PUT [type]/[id]`
(update-as-create) so the ids stay stable and a re-run is a no-op.
"""
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


def bundles_read(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, Bundle) for every JSON file of the tarball, in name order."""
    with tarfile.open(path, "r:gz") as archive:
        members = sorted((m for m in archive.getmembers() if m.isfile() and m.name.endswith(".json")),
                         key=lambda m: m.name)
        for member in members:
            handle = archive.extractfile(member)
            if handle is not None:
                yield member.name, orjson.loads(handle.read())


def as_put_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with each POST entry turned into a PUT of the resource's own id."""
    entries = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        request = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        entries.append({**entry, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def bundle_patient_id(bundle: dict[str, Any]) -> str | None:
    """Id of the bundle's Patient."""
    return next((e["resource"]["id"] for e in bundle.get("entry", [])
                 if e.get("resource", {}).get("resourceType") == "Patient"), None)
