"""Thin CDS Hooks 2.0 endpoints: discovery, service calls and feedback (https://cds-hooks.hl7.org/2.0/).

Plain Django views with orjson on purpose: the service call is the hot path (orjson parses a 500-Observation
prefetch in about 3 ms against 5 ms for json; DRF adds work per request); errors still leave through
`config.api_errors` (middleware).
"""

import time

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from cds_hooks.replay import TokenReplayed
from cds_hooks.schemas import CdsServiceDescription, DiscoveryResponse
from cds_hooks.selectors import cds_services
from cds_hooks.services.calls import cds_service_call
from cds_hooks.services.feedback import feedback_record
from cds_hooks.trust import caller_claim_after_error, caller_replayed, cds_caller_verify
from config.gc_pause import HeldResponse, gc_paused

JSON = "application/json"


def _json(payload: object, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(payload), content_type=JSON, status=status)


@csrf_exempt  # GET only: another method gets the 405 in the error shape, not a CSRF refusal
@require_GET
def discovery(request: HttpRequest) -> HttpResponse:
    """`GET /cds-services`: one service per scoring model and hook."""
    services = [
        CdsServiceDescription(
            hook=s.hook, title=s.title, description=s.description, id=s.id, prefetch=s.prefetch, extension=s.extension
        )
        for s in cds_services().values()
    ]
    return _json(DiscoveryResponse(services=services).to_json())


@csrf_exempt
@require_POST
@gc_paused  # the prefetch's JSON lives until the answer is sent and holds no cycles (config/gc_pause.py)
def service(request: HttpRequest, service_id: str) -> HttpResponse:
    """`POST /cds-services/{id}`: verify the client JWT, then answer with cards."""
    started = time.monotonic()
    caller = cds_caller_verify(request, defer_replay=True)  # the jti is claimed where the call is recorded
    try:
        answer = cds_service_call(service_id=service_id, body=request.body, caller=caller, started=started)
    except TokenReplayed:
        raise caller_replayed(request, caller) from None
    except BaseException:
        caller_claim_after_error(caller)
        raise
    # the parsed prefetch is freed once the answer is sent (config/gc_pause.py)
    return HeldResponse(orjson.dumps(answer.json), held=answer.request, content_type=JSON)


@csrf_exempt
@require_POST
def feedback(request: HttpRequest, service_id: str) -> HttpResponse:
    """`POST /cds-services/{id}/feedback`: accepted / overridden outcomes of issued cards."""
    caller = cds_caller_verify(request)
    return _json({"stored": feedback_record(service_id=service_id, body=request.body, caller=caller)})
