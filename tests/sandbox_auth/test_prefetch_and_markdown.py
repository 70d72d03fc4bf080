"""The simulator's prefetch token evaluation and safe Markdown rendering."""

from datetime import UTC, datetime

import pytest

from sandbox_ehr.ehr.markdown import markdown_render
from sandbox_ehr.ehr.prefetch import template_fill

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
CONTEXT = {"patientId": "physionet-1", "userId": "Practitioner/sandbox-clinician", "encounterId": "e-1"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Patient/{{context.patientId}}", "Patient/physionet-1"),
        (
            "Observation?patient={{context.patientId}}&category=vital-signs&date=ge{{today() - 3 days}}",
            "Observation?patient=physionet-1&category=vital-signs&date=ge2026-03-07",
        ),
        (
            "Observation?patient={{ context.patientId }}&date=ge{{now() - 6 hours}}",
            "Observation?patient=physionet-1&date=ge2026-03-10T08:30:00Z",
        ),
        ("Encounter/{{context.encounterId}}", "Encounter/e-1"),
        ("Practitioner/{{userPractitionerId}}", "Practitioner/sandbox-clinician"),
        (
            "Condition?patient={{context.patientId}}&recorded-date=le{{today}}",
            "Condition?patient=physionet-1&recorded-date=le2026-03-10",
        ),
    ],
)
def test_template_fill(template, expected):
    assert template_fill(template, CONTEXT, now=NOW) == expected


@pytest.mark.parametrize(
    "template",
    [
        "PractitionerRole?_id={{userPractitionerRoleId}}",  # the user is a Practitioner, not a role
        "Encounter/{{context.encounterId}}",
        "Observation?date={{yesterday}}",
    ],
)
def test_unfillable_template_is_skipped(template):
    assert template_fill(template, {"patientId": "p", "userId": "Practitioner/x"}, now=NOW) is None


def test_token_values_are_url_quoted():
    filled = template_fill("Patient?_id={{context.patientId}}", {"patientId": "a&b=c"}, now=NOW)
    assert filled == "Patient?_id=a%26b%3Dc"


def test_markdown_escapes_html_and_unsafe_links():
    html = markdown_render(
        "**High** risk <img src=x onerror=alert(1)>\n\n- [card](https://a.org/x)\n- [bad](javascript:alert(1))"
    )
    assert "<strong>High</strong>" in html
    assert "<img" not in html and "&lt;img" in html
    assert '<a href="https://a.org/x" target="_blank" rel="noopener noreferrer">card</a>' in html
    assert 'href="javascript' not in html
    assert html.count("<li>") == 2


def test_markdown_renders_gfm_table_with_escaped_cells():
    html = markdown_render(
        "**Sepsis risk: HIGH**\n\n| Top drivers | Value | Measured | Effect |\n"
        "| --- | :---: | --- | --- |\n"
        "| Lactate | 4.1 mmol/L | 2 h ago | raises risk |\n"
        "| <script>alert(1)</script> | a \\| b | **bold** | [x](javascript:alert(1)) |\n"
        "| short row |\n\nAfter the table."
    )
    assert '<table class="md-table"><thead><tr><th>Top drivers</th><th>Value</th>' in html
    assert "<td>Lactate</td><td>4.1 mmol/L</td><td>2 h ago</td><td>raises risk</td>" in html
    assert "<script" not in html and "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in html
    assert "<td>a | b</td>" in html and "<td><strong>bold</strong></td>" in html
    assert 'href="javascript' not in html
    assert "<td>short row</td><td></td><td></td><td></td>" in html  # padded to the header width
    assert html.count("<tr>") == 4 and "| Lactate" not in html and html.endswith("<p>After the table.</p>")


def test_markdown_pipes_without_separator_stay_a_paragraph():
    html = markdown_render("| not | a table |\n| still | not |")
    assert "<table" not in html and html.startswith("<p>| not | a table |<br>")
