"""Template filters of the EHR simulator."""

from django import template
from django.utils.safestring import SafeString

from sandbox_ehr.ehr.markdown import markdown_render

register = template.Library()


@register.filter
def safe_markdown(text: str) -> SafeString:
    """Render CDS card Markdown through the escaping subset renderer."""
    return markdown_render(str(text or ""))


@register.filter
def http_url(url: str) -> str:
    """The URL when it is http(s), else empty (no javascript: or data: links from a CDS service)."""
    value = str(url or "")
    return value if value.startswith(("https://", "http://")) else ""
