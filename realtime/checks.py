"""System checks of the real-time door: every score listener it will call can be imported."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register
from django.utils.module_loading import import_string


@register()
def score_listeners_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A listener that cannot be imported would fail every rescore (its stream entries end dead-lettered)."""
    out: list[CheckMessage] = []
    for path in settings.REALTIME_SCORE_LISTENERS:
        try:
            if path:
                import_string(path)
        except ImportError as exc:
            out.append(
                Warning(
                    f"REALTIME_SCORE_LISTENERS names {path!r}, which cannot be imported ({exc}).",
                    hint="Install the app that provides it, or remove it from REALTIME_SCORE_LISTENERS.",
                    id="realtime.W001",
                )
            )
    return out
