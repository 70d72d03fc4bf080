"""Routes of scoring (mounted under /models/)."""

from django.urls import URLPattern, URLResolver, path

from scoring import views

app_name = "scoring"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.model_index, name="model_index"),
    path("<slug:name>/<str:version>/", views.model_card, name="model_card"),
    path("<slug:name>/<str:version>/monitoring/", views.model_monitoring, name="model_monitoring"),
    path("<slug:name>/<str:version>/reliability.png", views.reliability_png, name="reliability_png"),
    path("<slug:name>/<str:version>/explanation.png", views.explanation_png, name="explanation_png"),
]
