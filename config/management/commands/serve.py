"""`manage.py serve ADDRPORT`: the embedded default's server for the demo (`make demo`).

Django's development server (no reloader; static files served, as `runserver --insecure`) with the in-process
reconcilers running beside it (`config.serving`), as gunicorn's workers run them: without them a write-back or a
population chunk left pending by a restart would wait for a process that never comes.
"""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from config.serving import reconcilers_start


class Command(BaseCommand):
    help = "Serve the embedded default: the development server plus the in-process reconcilers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", help="ip:port to listen on, e.g. 127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        running = reconcilers_start()
        self.stdout.write(
            f"reconcilers running in this process: {', '.join(running) or 'none (Celery beat runs them)'}"
        )
        call_command("runserver", options["addrport"], use_reloader=False, insecure_serving=True)
