"""Reading one NDJSON file of a FHIR Bulk Data export (one resource a line), refusing a bad line by file and line.

https://hl7.org/fhir/uv/bulkdata/export.html#file-format: each file holds resources of one type, one per line;
blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from config.errors import ValidationFailed


def ndjson_lines(path: Path, kind: str) -> Iterator[tuple[str, dict[str, Any], bytes]]:
    """(where, resource, the line as read) of each line of `path`, a file of `kind` resources; `where` names the
    file and line for messages. A line that is not a JSON object of that resourceType refuses the file."""
    try:
        with path.open("rb") as source:
            for number, line in enumerate(source, start=1):
                if line.strip():
                    where = f"{path.name} line {number}"
                    yield where, _resource(line, kind, where), line
    except OSError as exc:
        raise ValidationFailed(f"{path} cannot be read: {exc}") from exc


def _resource(line: bytes, kind: str, where: str) -> dict[str, Any]:
    try:
        resource = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"{where}: not a JSON resource ({exc}).") from exc
    if not isinstance(resource, dict):
        raise ValidationFailed(f"{where}: a JSON {type(resource).__name__}, not a {kind} resource.")
    if resource.get("resourceType") != kind:
        raise ValidationFailed(f"{where}: resourceType {resource.get('resourceType')!r:.40} in a file of {kind}s.")
    return resource
