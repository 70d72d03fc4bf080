"""The clinician alert inbox (a unit's worklist of open alerts, live by polling a small JSON feed), the
clinicians' actions on an alert, and the measured-attention page for admins; thin over services/selectors."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from alerts import selectors, services
from alerts.models import Alert
from audit.governance import ADMIN, AUDITOR, CLINICIAN
from config.errors import ApplicationError, PermissionDenied, ValidationFailed

ACTIONS = ("acknowledge", "resolve", "snooze")


def _require(request: HttpRequest, *groups: str) -> None:
    user = request.user
    if not (user.is_superuser or user.groups.filter(name__in=groups).exists()):
        raise PermissionDenied(f"This page is for the {' / '.join(groups)} group.")


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """A unit's open alerts (`?unit=`), or the list of units."""
    _require(request, CLINICIAN)
    unit = request.GET.get("unit")
    context = {"units": selectors.inbox_units(), "unit": unit, "poll_seconds": settings.ALERTS_INBOX_POLL_SECONDS}
    if unit is not None:
        context["rows"] = selectors.inbox_rows(unit[:200])
    return render(request, "alerts/inbox.html", context)


@login_required
@require_GET
def inbox_feed(request: HttpRequest) -> JsonResponse:
    """The unit's open alerts as JSON, with the rendered rows the page swaps in (live updates by polling)."""
    _require(request, CLINICIAN)
    unit = request.GET.get("unit", "")[:200]
    rows = selectors.inbox_rows(unit)
    html = render_to_string("alerts/_rows.html", {"rows": rows, "unit": unit}, request=request)
    return JsonResponse(
        {
            "unit": unit,
            "open": len(rows),
            "waiting": sum(1 for r in rows if r["waiting"]),
            "alerts": [{"id": r["id"], "status": r["status"], "band": r["band"], "title": r["title"]} for r in rows],
            "rows_html": html,
        }
    )


@login_required
@require_POST
def alert_action(request: HttpRequest, alert_id: int, action: str) -> HttpResponseRedirect:
    """Acknowledge, resolve or snooze (with a reason) one alert, then back to its unit's inbox."""
    _require(request, CLINICIAN)
    actor = request.user.get_username()
    reason = request.POST.get("reason", "")[:1000]
    try:
        alert = _act(alert_id, action, actor=actor, reason=reason, minutes=request.POST.get("minutes", ""))
        messages.success(request, f"{alert.title} alert {alert.status}.")
        unit = alert.unit
    except ApplicationError as exc:
        messages.error(request, exc.message)
        unit = request.POST.get("unit", "")
    return HttpResponseRedirect(f"{reverse('alerts:inbox')}?{urlencode({'unit': unit})}")


def _act(alert_id: int, action: str, *, actor: str, reason: str, minutes: str) -> Alert:
    if action == "acknowledge":
        return services.alert_acknowledge(alert_id=alert_id, actor=actor)
    if action == "resolve":
        return services.alert_resolve(alert_id=alert_id, actor=actor, reason=reason)
    if action == "snooze" and minutes.isdigit():
        return services.alert_snooze(alert_id=alert_id, actor=actor, reason=reason, minutes=int(minutes))
    raise ValidationFailed("Unknown action, or snooze without a number of minutes.")


@login_required
@require_GET
def attention(request: HttpRequest) -> HttpResponse:
    """Per model and unit over the last `?days=` (default 30): alert burden, acknowledgement and PPV."""
    _require(request, ADMIN, AUDITOR)
    days = int(request.GET["days"]) if request.GET.get("days", "").isdigit() else 30
    until = timezone.now()
    rows = selectors.alert_attention(since=until - timedelta(days=max(1, min(days, 365))), until=until)
    return render(request, "alerts/attention.html", {"rows": rows, "days": days, "no_outcomes": selectors.NO_OUTCOMES})
