"""What a serving process of the embedded default starts besides serving: the in-process reconcilers.

With no broker there is no Celery beat, so each serving process runs the write-back's and the population chunks'
reconcilers itself (daemon threads; `config.background`). gunicorn starts them in each worker (`post_fork`),
`manage.py serve` (the demo's server) before Django's development server; with a broker they start nothing.
"""

from fhirapp.services.writeback_delivery import write_back_background_start
from population.services.reconcile import chunks_reconcile_background_start


def reconcilers_start() -> list[str]:
    """Start this process's reconcilers (once each; embedded default only); the names of those running."""
    started = {
        "write-back": write_back_background_start(),
        "population chunks": chunks_reconcile_background_start(),
    }
    return [name for name, running in started.items() if running]
