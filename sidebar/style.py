"""Map the EHR's SMART style JSON to CSS custom properties, accepting only values that cannot inject CSS.

SMART App Launch 2.2 "Styling" (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#styling):
`color_background`, `color_highlight`, `color_text`, `font_family_body` etc. are hints the app may honour.
The values land in a nonce'd <style> block, so each is matched against a strict pattern first.
"""

import re
from typing import Any

from django.utils.safestring import SafeString, mark_safe

_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\))$")
_FONT = re.compile(r"^[A-Za-z0-9 ,'-]{1,160}$")  # family names, commas, balanced single quotes
STYLE_TO_CSS = (
    ("color_background", "--smart-bg", _COLOUR),
    ("color_highlight", "--smart-highlight", _COLOUR),
    ("color_text", "--smart-fg", _COLOUR),
    ("font_family_body", "--smart-font", _FONT),
    ("font_family", "--smart-font", _FONT),  # pre-2.0 name
)


def _valid(value: str, pattern: re.Pattern[str]) -> bool:
    return bool(pattern.match(value)) and value.count("'") % 2 == 0


def css_variables(style: dict[str, Any]) -> dict[str, SafeString]:
    """{css variable: value} for the style entries that validate; everything else is ignored."""
    variables: dict[str, SafeString] = {}
    for name, variable, pattern in STYLE_TO_CSS:
        value = style.get(name)
        if variable in variables or not isinstance(value, str) or not _valid(value.strip(), pattern):
            continue
        variables[variable] = mark_safe(value.strip())  # noqa: S308  (matched a strict pattern above)
    return variables
