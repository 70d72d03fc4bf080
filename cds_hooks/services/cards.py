"""Build CDS Hooks cards from scoring results: scored risk cards and honest "not scored" info cards.

Card attributes: https://cds-hooks.hl7.org/2.0/#card-attributes. The SMART link's `appContext`
is `{"card": "<uuid>"}` so the sidebar can open the assessment behind the card
(docs/architecture.md#cds-card-to-sidebar).

`detail` is GitHub-flavoured Markdown that the EHR renders, and much of its text comes from the EHR's own
FHIR data (units, displays, data notes): every such string goes through `md_text`, which escapes HTML and
Markdown syntax so that it can only ever be text (no tag, no link, no autolinked URL or domain). Links leave a card
only as `links`/`source`, and only to our own PUBLIC_BASE_URL or https to a registered host (`link_allowed`).
"""

import re
import uuid
from collections.abc import Mapping, Sequence

import orjson
from django.conf import settings

from cds_hooks.schemas import Card, Link, OverrideReasonCoding, Source
from config import outbound
from scoring.presentation import (
    age_text,
    band_text,
    clinical_drivers,
    context_text,
    driver_value_text,
    freshness_text,
    headline,
)
from scoring.types import Driver, ScoreResult

SUMMARY_MAX = 139  # spec: "<140-character summary"
MAX_DRIVERS = 5
NOT_APPLICABLE = "not applicable:"  # how a model says it does not apply here (e.g. readmission, ambulatory visit)
# (code, display) of the reasons a clinician may give for overriding a risk card.
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("already-addressed", "Risk already recognised and being addressed"),
    ("not-clinically-relevant", "Not clinically relevant for this patient"),
    ("data-inaccurate", "Input data inaccurate or out of date"),
)


def override_reason_system() -> str:
    """The code system URI of our override reasons (under the deployment's public URL)."""
    return f"{settings.PUBLIC_BASE_URL}/terminology/cds-override-reason"


def _override_reasons() -> list[OverrideReasonCoding]:
    system = override_reason_system()
    return [OverrideReasonCoding(system=system, code=code, display=display) for code, display in OVERRIDE_REASONS]


def _clip(text: str, limit: int = SUMMARY_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def link_allowed(url: str) -> bool:
    """A card links only to our own public URL, or over https to a registered host."""
    if outbound.same_origin(url, settings.PUBLIC_BASE_URL):
        return True
    return url.lower().startswith("https://") and outbound.is_registered(url)


def smart_link(card_uuid: str) -> list[Link]:
    """Launch the Stratify sidebar on this card's assessment (none when our own URL is not linkable)."""
    url = f"{settings.PUBLIC_BASE_URL}/smart/launch"
    return (
        [
            Link(
                label="Open Stratify risk details",
                url=url,
                type="smart",
                appContext=orjson.dumps({"card": card_uuid}).decode(),
            )
        ]
        if link_allowed(url)
        else []
    )


def _source(title: str, model_name: str, model_version: str, model_card_url: str) -> Source:
    url = model_card_url if link_allowed(model_card_url) else None
    return Source(label=_clip(f"Stratify {title} (model {model_name} {model_version})", 200), url=url)


def risk_card(result: ScoreResult, *, model_card_url: str, data_note: str) -> Card:
    """The card of a scored result: indicator from its band, drivers, freshness, model version."""
    card_uuid = str(uuid.uuid4())
    return Card(
        uuid=card_uuid,
        summary=_clip(result.summary),
        indicator=result.indicator,
        detail=_risk_detail(result, data_note),
        source=_source(result.title, result.model_name, result.model_version, model_card_url),
        overrideReasons=_override_reasons(),
        links=smart_link(card_uuid),
    )


def not_scored_card(result: ScoreResult, *, model_card_url: str, data_note: str) -> Card:
    """An info card naming what is missing or stale (never a silent imputation)."""
    card_uuid = str(uuid.uuid4())
    gaps = [*result.missing, *(f"{s} (stale)" for s in result.stale)]
    notes = result.notes()
    summary = f"{result.title} not scored: " + (
        ", ".join(gaps) if gaps else (notes[0] if notes else "insufficient data")
    )
    if not gaps and notes and notes[0].startswith(NOT_APPLICABLE):
        summary = f"{result.title} {notes[0]}"
    lines = [f"- {_md(m)}: missing" for m in result.missing]
    lines += [f"- {_md(s)}: too old to use" for s in result.stale]
    lines += [f"- {_md(r)}" for r in notes]
    return Card(
        uuid=card_uuid,
        summary=_clip(summary),
        indicator="info",
        detail=_not_scored_detail(result.title, lines, data_note, _model_line(result), missing_data=bool(gaps)),
        source=_source(result.title, result.model_name, result.model_version, model_card_url),
        links=smart_link(card_uuid),
    )


def unavailable_card(
    *,
    title: str,
    model_name: str,
    model_version: str,
    model_line: str,
    model_card_url: str,
    unavailable: Mapping[str, str],
    budget_ms: int,
    data_note: str,
) -> Card:
    """An info card when the EHR's FHIR server could not give the data: not scored, says which and why (a
    refused token, a failing or unreachable server, or no answer within the call's budget)."""
    card_uuid = str(uuid.uuid4())
    causes = sorted(set(unavailable.values()))
    cause = f" ({causes[0]})" if len(causes) == 1 else ""
    summary = f"{title} not scored: {', '.join(unavailable)} unavailable{cause}"
    lines = [f"- {_md(label)}: {_md(why)}" for label, why in unavailable.items()]
    lines.append(f"- The call's time budget is {budget_ms} ms.")
    return Card(
        uuid=card_uuid,
        summary=_clip(summary),
        indicator="info",
        detail=_not_scored_detail(title, lines, data_note, model_line),
        source=_source(title, model_name, model_version, model_card_url),
        links=smart_link(card_uuid),
    )


def degraded_card(*, title: str, model_name: str, model_version: str, model_card_url: str) -> Card:
    """The one card while our own database is down: no score is given, because none could be audited or recorded.

    Without a `uuid` (nothing can be stored for feedback to name) and without a SMART link (the sidebar needs the
    database too); it names nothing about the patient."""
    detail = (
        f"**{_md(title)} was not computed.** Stratify cannot record this call right now (its database is "
        "unavailable). Every score it gives must be audited and recorded, so none is given while that is "
        "impossible.\n\n"
        "This is **not** a low-risk result: no risk was assessed. Use your usual clinical assessment; the score "
        "returns by itself when the service recovers (the next time the chart is opened)."
    )
    return Card(
        summary=_clip(f"{title} unavailable: Stratify cannot record calls right now, so no score is given"),
        indicator="info",
        detail=detail,
        source=_source(title, model_name, model_version, model_card_url),
    )


def _risk_detail(result: ScoreResult, data_note: str) -> str:
    lines = [f"**{_md(result.title)}: {(result.band or 'unbanded').upper()}** — {headline(result, _bold)}.", ""]
    if band_text(result):
        lines += [f"**Band:** {_md(band_text(result))}.", ""]
    lines += _driver_table(clinical_drivers(result))
    if context_text(result):  # charting and time inputs: shown apart, never as the clinical reason
        lines += ["", f"**Context (charting and time, not physiology):** {_md(context_text(result))}"]
    if result.reasons:  # what the score could not see or assumed (e.g. NEWS2 lower bound, a stay in progress)
        lines += ["", "**Notes:**", *(f"- {_md(note)}" for note in result.reasons)]
    lines += [
        "",
        f"**Data freshness:** {freshness_text(result.data_times, result.as_of)}",
        f"**Data:** {_md(data_note)}",
        "",
        _model_line(result),
    ]
    return "\n".join(lines)


def _driver_table(drivers: Sequence[Driver]) -> list[str]:
    if not drivers:
        return ["No single input stands out."]
    rows = ["| Top drivers | Value | Measured | Effect |", "| --- | --- | --- | --- |"]
    for d in drivers[:MAX_DRIVERS]:
        value = driver_value_text(d)
        age = "—" if d.age_hours is None else age_text(d.age_hours)
        rows.append(f"| {_md(d.label)} | {_md(value)} | {age} | {d.direction} risk |")
    return rows


def _bold(text: str) -> str:
    return f"**{text}**"


# ASCII punctuation that starts HTML, an entity, emphasis, code, a link or image (`[`), an e-mail autolink,
# a table cell or a heading: backslash-escaped, which CommonMark renders as the character itself.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&@#])")
# What linkify extensions turn into links without any syntax: `scheme://` and domain-like names
# ("www.evil.example", "evil.example"); escaping the colon or the dot keeps them text.
_AUTOLINK = re.compile(r":(?=//)|(?<=[A-Za-z0-9])\.(?=[A-Za-z])")


def md_text(text: str) -> str:
    """`text` as Markdown that renders exactly as this text: one line, no HTML, no link, no formatting."""
    one_line = " ".join(str(text).split())
    return _AUTOLINK.sub(lambda m: "\\" + m.group(0), _MD_SPECIAL.sub(r"\\\1", one_line))


_md = md_text


def model_line(name: str, version: str, kind: str, sha256: str, spec_version: str = "") -> str:
    """The model identification line every card detail ends with."""
    sha = f", sha256 {sha256[:12]}" if sha256 else ""
    spec = f", feature spec {spec_version}" if spec_version else ""
    return f"Model: {name} {version} ({kind}{sha}{spec})."


def _model_line(result: ScoreResult) -> str:
    return model_line(result.model_name, result.model_version, result.kind, result.model_sha256, result.spec_version)


def _not_scored_detail(
    title: str, gaps: list[str], data_note: str, model_line: str, *, missing_data: bool = True
) -> str:
    why = " Stratify does not guess missing data." if missing_data else ""
    lines = [f"**{_md(title)} was not scored.**{why}", "", *gaps]
    return "\n".join([*lines, "", f"**Data:** {_md(data_note)}", "", model_line])
