"""gunicorn settings: sync workers; freeze the loaded heap after fork so GC pauses stay short."""
import gc
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "sync"
timeout = 30
preload_app = True  # load Django and the models once, before forking


def when_ready(server: object) -> None:
    """Move the preloaded heap to the permanent generation (see shared/PERFORMANCE_NOTES.md)."""
    gc.collect()
    gc.freeze()
