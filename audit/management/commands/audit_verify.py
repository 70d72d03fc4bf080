"""`manage.py audit_verify`: walk the audit hash chain; exit 1 and name the first broken link."""
from django.core.management.base import BaseCommand, CommandError

from audit.chain import audit_chain_verify


class Command(BaseCommand):
    """Verifies every record's prev_hash link and content hash."""

    help = "Verify the hash chain of the audit trail; exit code 1 at the first broken link."

    def handle(self, *args: object, **options: object) -> None:
        report = audit_chain_verify()
        if report.broken is not None:
            raise CommandError(f"audit chain broken at record id={report.broken.record_id}: {report.broken.reason} "
                               f"({report.checked} records checked)", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} records verified"))
