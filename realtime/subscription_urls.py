"""Routes of the FHIR Subscriptions door (mounted at /api/subscriptions/)."""

from django.urls import path

from realtime import subscription_views

app_name = "realtime_subscriptions"

urlpatterns = [
    path("<int:pk>/notify", subscription_views.notify, name="notify"),
]
