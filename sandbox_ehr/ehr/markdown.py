"""A tiny, safe Markdown subset for CDS card `detail` (GitHub-flavoured Markdown per CDS Hooks 2.0 "Card").

Everything is HTML-escaped first, so no raw HTML from a CDS service ever reaches the page; then a
small subset is rendered: paragraphs, `-`/`*` bullet lists, GitHub-flavoured tables (header row, `---`
separator row, body rows; `\\|` is a literal pipe), **bold**, *italic*, `code` and [links](https://...)
with http(s) targets only (opened with rel="noopener noreferrer"). Table cells go through the same
escaping as every other text.
"""

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^\s)]+)\)")
_BULLET = re.compile(r"^\s*[-*]\s+")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _inline(text: str) -> str:
    html: str = str(escape(text))
    html = _LINK.sub(
        lambda m: f'<a href="{m.group(2)}" target="_blank" rel="noopener noreferrer">{m.group(1)}</a>', html
    )
    html = _CODE.sub(r"<code>\1</code>", html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    return _ITALIC.sub(r"<em>\1</em>", html)


def _cells(line: str) -> list[str]:
    inner = line.strip()[1:-1]  # drop the outer pipes
    return [cell.strip().replace("\\|", "|") for cell in _CELL_SPLIT.split(inner)]


def _is_table(lines: list[str]) -> bool:
    return len(lines) >= 2 and bool(_TABLE_SEPARATOR.match(lines[1])) and all(_TABLE_ROW.match(x) for x in lines)


def _table(lines: list[str]) -> str:
    header = _cells(lines[0])
    head = "".join(f"<th>{_inline(cell)}</th>" for cell in header)
    rows = []
    for line in lines[2:]:
        cells = (_cells(line) + [""] * len(header))[: len(header)]  # GFM: pad short rows, drop extra cells
        rows.append("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in cells) + "</tr>")
    body = f"<tbody>{''.join(rows)}</tbody>" if rows else ""
    return f'<table class="md-table"><thead><tr>{head}</tr></thead>{body}</table>'


def _block(lines: list[str]) -> str:
    if _is_table(lines):
        return _table(lines)
    if all(_BULLET.match(line) for line in lines):
        items = "".join(f"<li>{_inline(_BULLET.sub('', line))}</li>" for line in lines)
        return f"<ul>{items}</ul>"
    return f"<p>{'<br>'.join(_inline(line.strip()) for line in lines)}</p>"


def markdown_render(text: str) -> SafeString:
    """Render the safe subset to HTML (input is escaped first, so it is safe to mark as such)."""
    blocks = [b.splitlines() for b in re.split(r"\n\s*\n", (text or "").strip()) if b.strip()]
    return mark_safe("".join(_block(lines) for lines in blocks))  # noqa: S308  (escaped above)
