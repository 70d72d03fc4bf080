"""Routes of smart_launch (mounted at /smart/; our JWKS is routed at /.well-known/jwks.json in config/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from smart_launch import views

app_name = "smart_launch"

urlpatterns: list[URLPattern | URLResolver] = [
    path("launch", views.launch, name="launch"),
    path("launch/standalone", views.launch_standalone, name="launch_standalone"),
    path("callback", views.callback, name="callback"),
    path("signout", views.signout, name="signout"),
]
