"""The rest-hook endpoint our EHR subscriptions notify (thin: `subscription_receive.notification_receive`)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from config.api_errors import method_not_allowed_response
from realtime.subscription_receive import notification_receive


@csrf_exempt  # a machine client authenticated by the channel secret, not a browser session
def notify(request: HttpRequest, pk: int) -> HttpResponse:
    """POST a notification Bundle: 200 with what was published; 4xx in the project's error shape."""
    if request.method != "POST":
        return method_not_allowed_response(request, "POST")
    result = notification_receive(
        subscription_id=pk, authorization=request.headers.get("Authorization", ""), body=request.body
    )
    return JsonResponse(result)
