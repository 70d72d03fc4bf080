"""`manage.py promote_model request|approve|reject|rollback`: governed promotion from the command line (the same
services as the admin: evidence kept with the request, the two-person rule, audited, rollback in one action)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from scoring.models import ModelVersion, PromotionRequest
from scoring.services_promotion import DECISIONS, promotion_decide, promotion_request_create


class Command(BaseCommand):
    """Request a promotion (challenger NAME VERSION), or decide request ID."""

    help = (
        "request NAME VERSION --to canary|active: ask to promote a shadow/canary version (evidence computed now); "
        "approve|reject|rollback ID: decide a request (a second person approves; rollback restores the statuses)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["request", *DECISIONS])
        parser.add_argument("target", nargs="+", help="NAME VERSION (request) or request ID")
        parser.add_argument("--to", default=PromotionRequest.Target.ACTIVE, choices=PromotionRequest.Target.values)
        parser.add_argument("--by", required=True, help="who acts (the requester cannot approve)")
        parser.add_argument("--reason", required=True, help="why (audited, kept in the change log)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            request = _act(options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"promotion request {request.pk}: {request}"))


def _act(options: dict[str, Any]) -> PromotionRequest:
    target, by, reason = options["target"], options["by"], options["reason"]
    if options["action"] == "request":
        if len(target) != 2:
            raise CommandError("request takes NAME VERSION")
        mv = ModelVersion.objects.filter(name=target[0], version=target[1]).first()
        if mv is None:
            raise CommandError(f"no version {target[1]} of {target[0]!r}")
        return promotion_request_create(challenger=mv, target_status=options["to"], requested_by=by, reason=reason)
    request = PromotionRequest.objects.filter(pk=int(target[0]) if target[0].isdigit() else 0).first()
    if request is None:
        raise CommandError(f"no promotion request {target[0]}")
    return promotion_decide(request=request, decision=options["action"], actor=by, reason=reason)
