"""`manage.py realtime_consume [--name NAME] [--once]`: consume the vitals stream and rescore (long-running)."""

import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from realtime.consumer import Consumer


class Command(BaseCommand):
    help = "Consume the vitals stream (consumer group `rescore`): keep each patient's online state, rescore, alert."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default=None, help="consumer name in the group (default: host-pid)")
        parser.add_argument("--once", action="store_true", help="one step and its housekeeping, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run until SIGTERM or SIGINT; the step in progress finishes (and is acknowledged) first."""
        consumer = Consumer(options["name"])
        stopping: list[int] = []

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"realtime consumer {consumer.name}: reading the vitals stream")
        if options["once"]:
            consumer.group_ensure()
            consumer.step(block_ms=0)
            consumer.housekeep(force=True)
            return
        consumer.run(lambda: bool(stopping))
        self.stdout.write(f"realtime consumer {consumer.name}: stopped")
