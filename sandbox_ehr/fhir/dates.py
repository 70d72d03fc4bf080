"""FHIR date/dateTime/instant values as half-open UTC ranges (their implicit precision range).

FHIR R4 search.html#date: "the date parameter format is yyyy-mm-ddThh:mm:ss[Z|(+|-)hh:mm]" and a
value of lower precision stands for the whole interval it names; values without a zone are read
as UTC here (the spec leaves the zone to the server when none is given).
"""

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from config.errors import ValidationFailed

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
OPEN_START = datetime(1, 1, 2, tzinfo=UTC)
OPEN_END = datetime(9999, 12, 30, tzinfo=UTC)


def _add_months(value: datetime, months: int) -> datetime:
    month = value.month - 1 + months
    return value.replace(year=value.year + month // 12, month=month % 12 + 1)


def _zone(text: str | None) -> tzinfo:
    if not text or text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


def date_range(text: str) -> tuple[datetime, datetime]:
    """[start, end) of a FHIR date, dateTime or instant; ValidationFailed when it is not one."""
    match = _DATE_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValidationFailed(f"'{text}' is not a FHIR date or dateTime.")
    g = match.groupdict()
    try:
        if g["H"] is not None:
            tz = _zone(g["tz"])
            micro = int(round(float(g["f"]) * 1_000_000)) if g["f"] else 0
            start = datetime(
                int(g["y"]),
                int(g["m"]),
                int(g["d"]),
                int(g["H"]),
                int(g["M"]),
                int(g["S"] or 0),
                min(micro, 999_999),
                tzinfo=tz,
            ).astimezone(UTC)
            step = timedelta(seconds=1) if g["S"] is not None else timedelta(minutes=1)
            return start, start + step
        start = datetime(int(g["y"]), int(g["m"] or 1), int(g["d"] or 1), tzinfo=UTC)
    except ValueError as exc:
        raise ValidationFailed(f"'{text}' is not a valid date: {exc}.") from exc
    if g["d"] is not None:
        return start, start + timedelta(days=1)
    if g["m"] is not None:
        return start, _add_months(start, 1)
    return start, start.replace(year=start.year + 1)


def element_range(value: object) -> tuple[datetime, datetime] | None:
    """The range of a date-like element: a date/dateTime string or a Period {start, end}."""
    if isinstance(value, str):
        return date_range(value)
    if isinstance(value, dict) and ("start" in value or "end" in value):
        start = date_range(value["start"])[0] if value.get("start") else OPEN_START
        end = date_range(value["end"])[1] if value.get("end") else OPEN_END
        return start, end
    return None
