"""Routes of alerts: the clinician inbox, its JSON feed, actions on an alert, the measured-attention page."""

from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/feed", views.inbox_feed, name="inbox_feed"),
    path("<int:alert_id>/<str:action>", views.alert_action, name="action"),
    path("attention/", views.attention, name="attention"),
]
