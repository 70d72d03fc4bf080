"""Routes of smart_launch."""
from django.urls import URLPattern, URLResolver

app_name = "smart_launch"

urlpatterns: list[URLPattern | URLResolver] = []
