"""`manage.py serve`: the demo's server runs the embedded default's reconcilers beside Django's development server."""

import threading
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from config.management.commands import serve


def test_serve_starts_the_reconcilers_then_the_development_server(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[Any, ...]] = []
    # Django's runserver would block this test: record how it is called instead (the reconcilers are real threads).
    monkeypatch.setattr(serve, "call_command", lambda *args, **kwargs: served.append((args, kwargs)))
    out = StringIO()
    call_command("serve", "127.0.0.1:8765", stdout=out)
    assert "write-back, population chunks" in out.getvalue()
    running = {t.name for t in threading.enumerate() if t.is_alive()}
    assert {"write-back-reconciler", "population-chunk-reconciler"} <= running
    assert served == [(("runserver", "127.0.0.1:8765"), {"use_reloader": False, "insecure_serving": True})]
