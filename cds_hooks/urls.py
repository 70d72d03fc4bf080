"""Routes of cds_hooks."""
from django.urls import URLPattern, URLResolver

app_name = "cds_hooks"

urlpatterns: list[URLPattern | URLResolver] = []
