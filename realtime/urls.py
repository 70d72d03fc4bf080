"""Routes of the real-time door."""

from django.urls import path

from realtime.apis import EventsApi

app_name = "realtime"
urlpatterns = [path("v1/events", EventsApi.as_view(), name="events")]
