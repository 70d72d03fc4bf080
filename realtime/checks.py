"""System checks of the real-time door: every score listener it will call can be imported and called as the
door calls it (one argument: the store's `PatientScores`)."""

import inspect
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string


@register()
def score_listeners_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A listener that cannot be imported, or not called with one argument (the keyword-argument listeners of
    earlier releases, `alerts.services.alerts_on_score` among them), would fail every rescore: its stream entries
    would end dead-lettered."""
    out: list[CheckMessage] = []
    for path in filter(None, settings.REALTIME_SCORE_LISTENERS):
        try:
            listener = import_string(path)
        except ImportError as exc:
            out.append(
                Warning(
                    f"REALTIME_SCORE_LISTENERS names {path!r}, which cannot be imported ({exc}).",
                    hint="Install the app that provides it, or remove it from REALTIME_SCORE_LISTENERS.",
                    id="realtime.W001",
                )
            )
            continue
        if not _takes_one_argument(listener):
            out.append(
                Error(
                    f"REALTIME_SCORE_LISTENERS names {path!r}, which cannot be called with one argument (a list of "
                    "scoring.types.PatientScores, one call per store of rescores).",
                    hint="Use alerts.services.alerts_on_scores for alerts; a listener of your own takes the list.",
                    id="realtime.E001",
                )
            )
    return out


def _takes_one_argument(listener: Any) -> bool:
    try:
        inspect.signature(listener).bind([])
    except TypeError:
        return False
    except ValueError:  # no signature to read (some builtins): not known to be wrong
        return True
    return True
