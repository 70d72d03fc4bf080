"""Routes of cds_hooks, included at `cds-services` (no trailing slash: the spec's URLs have none).

The sub-routes start with the slash the include prefix lacks; it is written `[/]` so Django's
urls.W002 check (meant for prefixes that do end in a slash) stays quiet.
"""

from django.urls import URLPattern, URLResolver, path, re_path

from cds_hooks import apis

app_name = "cds_hooks"

SERVICE_ID = r"(?P<service_id>[A-Za-z0-9._-]{1,100})"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", apis.discovery, name="discovery"),
    re_path(rf"^[/]{SERVICE_ID}$", apis.service, name="service"),
    re_path(rf"^[/]{SERVICE_ID}/feedback$", apis.feedback, name="feedback"),
]
