"""Route of the sidebar (mounted at /smart/, beside the launch routes, so EHR registrations keep their URLs)."""

from django.urls import URLPattern, URLResolver, path

from sidebar import views

app_name = "sidebar"

urlpatterns: list[URLPattern | URLResolver] = [path("app", views.app, name="app")]
