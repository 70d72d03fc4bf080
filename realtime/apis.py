"""The device ingestion API: `POST /realtime/v1/events` (one thin DRF view over `realtime.ingest`).

Body `{"events": [VitalEvent, ...]}`, authenticated per device source (`realtime.auth`). 200 with the counts
(`received`, `stored`, `duplicates`: a resend is a 200 that stores nothing); 400 `events_invalid` with one
error per bad event (`index`, `field`, `message`), nothing stored; 401 for a missing or refused token. Errors
leave through the project's one mapping (`config.api_errors`).
"""

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from realtime.auth import device_source_verify
from realtime.ingest import events_ingest


class EventsApi(APIView):
    """`POST /realtime/v1/events`: store and stream a batch of device vitals."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        source = device_source_verify(request._request)
        return Response(events_ingest(source=source, body=request.data))
