"""Synthea R4 transaction bundles (shared/data/synthea, SMART Health IT sample data, Apache-2.0) -> the store.

Each bundle goes through the FHIR server's own transaction service. Synthea writes `POST [type]`
entries whose resources already carry their `urn:uuid` as `id`; they are sent as `PUT [type]/[id]`
(update-as-create) so the ids stay stable and a re-run is a no-op.

Before loading, each bundle is moved in time (`bundle_time_shift`) so that its patient's latest
clinical event lies an hour before the load anchor, as the PhysioNet stays end at the anchor.
"""

import re
import tarfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

# A FHIR dateTime/instant with a time (which FHIR requires to carry a zone) and a FHIR full date.
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Synthea's billing resources: an ExplanationOfBenefit's billablePeriod runs a year past its encounter,
# so they are moved with the rest but do not decide where the record ends.
BILLING_TYPES = frozenset({"Claim", "ExplanationOfBenefit"})
END_BEFORE_ANCHOR = timedelta(hours=1)


def bundles_read(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, Bundle) for every JSON file of the tarball, in name order."""
    with tarfile.open(path, "r:gz") as archive:
        members = sorted(
            (m for m in archive.getmembers() if m.isfile() and m.name.endswith(".json")), key=lambda m: m.name
        )
        for member in members:
            handle = archive.extractfile(member)
            if handle is not None:
                yield member.name, orjson.loads(handle.read())


def _datetimes(value: Any) -> Iterator[datetime]:
    """Every FHIR dateTime/instant (with a time) anywhere in a JSON value."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _datetimes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _datetimes(item)
    elif isinstance(value, str) and _DATETIME.match(value):
        yield datetime.fromisoformat(value)


def latest_clinical_datetime(bundle: dict[str, Any]) -> datetime | None:
    """The latest dateTime of the bundle's clinical resources (billing left out), deceasedDateTime included."""
    resources = (e.get("resource") or {} for e in bundle.get("entry", []))
    return max(
        (moment for r in resources if r.get("resourceType") not in BILLING_TYPES for moment in _datetimes(r)),
        default=None,
    )


def _shift_text(text: str, delta: timedelta) -> str:
    match = _DATETIME.match(text)
    if match:  # whole-second delta: the fraction and the zone are kept exactly as written
        moved = datetime.fromisoformat(f"{match.group(1)}{match.group(3)}") + delta
        return f"{moved.strftime('%Y-%m-%dT%H:%M:%S')}{match.group(2) or ''}{match.group(3)}"
    if _DATE.match(text):
        try:
            return (date.fromisoformat(text) + timedelta(days=round(delta / timedelta(days=1)))).isoformat()
        except ValueError:
            return text
    return text


def _shift(value: Any, delta: timedelta) -> Any:
    if isinstance(value, dict):
        return {key: _shift(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, delta) for item in value]
    return _shift_text(value, delta) if isinstance(value, str) else value


def bundle_time_shift(
    bundle: dict[str, Any], anchor: datetime, *, end_before: timedelta = END_BEFORE_ANCHOR
) -> dict[str, Any]:
    """The bundle with every date moved by one delta, so that its latest clinical dateTime is `anchor - end_before`.

    Why: Synthea records end years ago (1989-2020), so in the sandbox every vital sign would be stale and
    every score refused. Moving the whole record keeps it internally true: every FHIR dateTime/instant
    (Period start/end included) moves by the same whole-second delta, keeping its zone and fraction as
    written, and full dates (birthDate) move by the delta rounded to days, so ages at each encounter and
    the spacing between events do not change. A deceased patient then died an hour before the anchor; a
    living one's last encounter ended then (a recent discharge). Claims and ExplanationOfBenefits move too
    but do not decide the latest date (their billable periods run a year past the care). Only dates move:
    these are synthetic patients and no clinical data is added or changed. Partial dates (YYYY, YYYY-MM)
    and narrative text are left as they are. Pure: the input is not modified; shifting an already shifted
    bundle with the same anchor returns it unchanged (the delta is then 0).
    """
    if anchor.tzinfo is None:
        raise ValueError("bundle_time_shift needs a timezone-aware anchor (e.g. datetime.now(UTC)).")
    latest = latest_clinical_datetime(bundle)
    seconds = 0 if latest is None else round((anchor - end_before - latest).total_seconds())
    shifted: dict[str, Any] = _shift(bundle, timedelta(seconds=seconds))
    return shifted


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
    return next(
        (
            e["resource"]["id"]
            for e in bundle.get("entry", [])
            if e.get("resource", {}).get("resourceType") == "Patient"
        ),
        None,
    )
