"""Every route answers hostile or malformed requests with a 4xx (or a normal answer), never a 500."""

import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# Route parameters get values that exist nowhere, so each view exercises its "not found"/"invalid" path.
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_PROBES = {"service_id": "stratify-sepsis", "resource_type": "Observation", "name": "sepsis"}


def _concrete(route: str) -> str:
    route = route.lstrip("^").rstrip("$").replace("[/]", "/").replace("\\", "")
    route = _REGEX_GROUP.sub(lambda m: _PROBES.get(m.group(1), "zz-unknown"), route)
    return _CONVERTER.sub(lambda m: _PROBES.get(m.group(1), "zz-unknown"), route)


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + _concrete(str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            if route.startswith("admin/"):
                continue  # Django's own admin; covered by its login redirect below
            yield from _routes(pattern.url_patterns, route)
        else:
            yield "/" + route


ROUTES = sorted(set(_routes(get_resolver().url_patterns))) + ["/admin/", "/no/such/route"]

BODIES = [
    ("{not json", "application/json"),
    ("[]", "application/json"),
    ('{"hook": 5, "context": "x", "prefetch": [1]}', "application/json"),
    ("\x00\xff", "application/octet-stream"),
    ("a=%ZZ&b=" + "x" * 5000, "application/x-www-form-urlencoded"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES)
def test_get_never_500(client: Client, route: str) -> None:
    if route == "/readyz":  # it answers 503 by design while no model is active: install the shipped ones
        from io import StringIO

        from django.core.management import call_command

        call_command("install_models", stdout=StringIO())
    for query in ("", "?iss=javascript:alert(1)&launch=%00&code=x&state=x&_count=-1&date=notadate&q=%25"):
        response = client.get(route + query, HTTP_AUTHORIZATION="Bearer not-a-token")
        assert response.status_code < 500, (route + query, response.status_code, response.content[:300])


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES)
def test_malformed_posts_never_500(client: Client, route: str) -> None:
    for body, content_type in BODIES:
        response = client.post(route, body, content_type=content_type, HTTP_AUTHORIZATION="Bearer a.b.c")
        assert response.status_code < 500, (route, body[:40], response.status_code, response.content[:300])
