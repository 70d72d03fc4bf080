"""`manage.py audit_export --since ISO`: the audit trail as FHIR R4 AuditEvents (NDJSON or a Bundle)."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.chain import audit_events


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not an ISO 8601 date/time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    """Writes one AuditEvent per audit record (patient as pseudonym only) to a file or stdout."""

    help = "Export audit records since a time as FHIR R4 AuditEvents (NDJSON by default, or a collection Bundle)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="ISO 8601 date/time (UTC when no offset)")
        parser.add_argument("--until", help="ISO 8601 date/time, exclusive")
        parser.add_argument("--format", choices=["ndjson", "bundle"], default="ndjson")
        parser.add_argument("--output", help="file to write (default: stdout)")

    def handle(self, *args: object, **options: Any) -> None:
        events = audit_events(
            since=_when(options["since"]), until=_when(options["until"]) if options["until"] else None
        )
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                count = _write(out.write, events, options["format"])
            self.stderr.write(f"{count} AuditEvents written to {options['output']}")
        else:
            _write(lambda text: self.stdout.write(text, ending=""), events, options["format"])


def _write(write: Callable[[str], Any], events: Iterable[dict[str, Any]], fmt: str) -> int:
    if fmt == "ndjson":  # FHIR Bulk Data NDJSON: one resource per line
        count = 0
        for event in events:
            write(orjson.dumps(event).decode() + "\n")
            count += 1
        return count
    entries = [{"resource": event} for event in events]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    write(orjson.dumps(bundle, option=orjson.OPT_INDENT_2).decode() + "\n")
    return len(entries)
