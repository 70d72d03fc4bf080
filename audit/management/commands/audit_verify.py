"""`manage.py audit_verify [--checkpoints FILE]`: walk the keyed audit chain and check the signed checkpoints
kept outside the database; exit 1 and name the first problem."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.chain import audit_chain_verify
from audit.checkpoints import audit_checkpoints_verify


class Command(BaseCommand):
    """Verifies every record's prev_hash link and keyed content hash, then every checkpoint."""

    help = (
        "Verify the keyed hash chain of the audit trail and the signed checkpoints of its head; "
        "exit code 1 at the first problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoints",
            type=Path,
            default=None,
            help="checkpoint file (JSON lines); default AUDIT_CHECKPOINT_FILE when it exists",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        if report.broken is not None:
            raise CommandError(
                f"audit chain broken at record id={report.broken.record_id}: {report.broken.reason} "
                f"({report.checked} records checked)",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} records verified"))
        path = options["checkpoints"] or Path(settings.AUDIT_CHECKPOINT_FILE)
        if options["checkpoints"] is None and not path.exists():
            return
        checked, problem = audit_checkpoints_verify(path)
        if problem is not None:
            raise CommandError(f"audit checkpoint {path}:{problem.line} contradicted: {problem.reason}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"audit checkpoints hold: {checked} checked in {path}"))
