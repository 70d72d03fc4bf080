"""A tiny, safe Markdown subset for CDS card `detail` (GitHub-flavoured Markdown per CDS Hooks 2.0 "Card").

Everything is HTML-escaped first, so no raw HTML from a CDS service ever reaches the page; then a
small subset is rendered: paragraphs, `-`/`*` bullet lists, **bold**, *italic*, `code` and
[links](https://...) with http(s) targets only (opened with rel="noopener noreferrer").
"""
import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^\s)]+)\)")
_BULLET = re.compile(r"^\s*[-*]\s+")


def _inline(text: str) -> str:
    html: str = str(escape(text))
    html = _LINK.sub(lambda m: f'<a href="{m.group(2)}" target="_blank" rel="noopener noreferrer">{m.group(1)}</a>',
                     html)
    html = _CODE.sub(r"<code>\1</code>", html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    return _ITALIC.sub(r"<em>\1</em>", html)


def _block(lines: list[str]) -> str:
    if all(_BULLET.match(line) for line in lines):
        items = "".join(f"<li>{_inline(_BULLET.sub('', line))}</li>" for line in lines)
        return f"<ul>{items}</ul>"
    return f"<p>{'<br>'.join(_inline(line.strip()) for line in lines)}</p>"


def markdown_render(text: str) -> SafeString:
    """Render the safe subset to HTML (input is escaped first, so it is safe to mark as such)."""
    blocks = [b.splitlines() for b in re.split(r"\n\s*\n", (text or "").strip()) if b.strip()]
    return mark_safe("".join(_block(lines) for lines in blocks))  # noqa: S308  (escaped above)
