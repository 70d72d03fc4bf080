"""Prefetch template evaluation as an EHR does it (CDS Hooks "Prefetch tokens").

https://cds-hooks.org/specification/current/#prefetch-tokens: `{{context.<field>}}` for primitive
context fields, `{{userPractitionerId}}`-style user tokens derived from `context.userId`, and the
draft's simple FHIRPath date tokens `{{today()}}`, `{{now()}}` with `± N unit` (e.g.
`{{today() - 90 days}}`; `{{today}}` is accepted too). A template whose token has no value is not
prefetched (the service may fetch it itself with fhirAuthorization).
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

_TOKEN = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_DATE = re.compile(r"^(today|now)(?:\(\))?(?:\s*([+-])\s*(\d+)\s*(\w+))?$")
_UNITS = {"year": 365, "month": 30, "week": 7, "day": 1}
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


def _delta(amount: int, unit: str) -> timedelta:
    unit = unit.lower().rstrip("s")
    if unit == "hour":
        return timedelta(hours=amount)
    if unit == "minute":
        return timedelta(minutes=amount)
    if unit not in _UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    return timedelta(days=amount * _UNITS[unit])  # calendar months/years approximated (sandbox only)


def _date_token(expr: str, now: datetime) -> str | None:
    match = _DATE.match(expr)
    if not match:
        return None
    kind, sign, amount, unit = match.groups()
    value = now
    if sign:
        delta = _delta(int(amount), unit)
        value = now + delta if sign == "+" else now - delta
    if kind == "today":
        return value.date().isoformat()
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token_value(expr: str, context: Mapping[str, Any], now: datetime) -> str | None:
    if expr.startswith("context."):
        value = context.get(expr.removeprefix("context."))
        return str(value) if isinstance(value, str | int) and value != "" else None
    if expr in _USER_TOKENS:
        kind, _, user_id = str(context.get("userId", "")).partition("/")
        return user_id if kind == _USER_TOKENS[expr] and user_id else None
    return _date_token(expr, now)


def template_fill(template: str, context: Mapping[str, Any], *, now: datetime | None = None) -> str | None:
    """The query with every token replaced (URL-quoted), or None when a token has no value."""
    now = now or datetime.now(UTC)
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        value = _token_value(match.group(1), context, now)
        if value is None:
            missing = True
            return ""
        return quote(value, safe="-._~:/")

    filled = _TOKEN.sub(replace, template)
    return None if missing else filled
