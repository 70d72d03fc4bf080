"""`/metrics` (Prometheus text format), for allowed callers only (config.probes).

Under gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR (set by config/gunicorn.py) and a
scrape sums them over all workers, whichever worker answers (prometheus_client's multiprocess mode); a single
process exports its own registry. The write-back queue length is read from the broker at each scrape.
"""

import os
from collections.abc import Iterator

import prometheus_client
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from config.errors import PermissionDenied
from config.probes import probe_reader
from fhirapp.services.writeback_delivery import write_back_queue_length


class WriteBackQueueCollector(Collector):
    """`stratify_writeback_queue_length`: write-back messages waiting in the broker (or the in-process pool)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge, read now."""
        gauge = GaugeMetricFamily("stratify_writeback_queue_length", "Write-back deliveries waiting to be sent")
        gauge.add_metric([], float(write_back_queue_length()))
        yield gauge


_LIVE = prometheus_client.CollectorRegistry()  # values read at scrape time, not kept per process
_LIVE.register(WriteBackQueueCollector())


def exposition() -> bytes:
    """Every worker's samples (multiprocess mode) or this process's, then the live values."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.REGISTRY
    return prometheus_client.generate_latest(registry) + prometheus_client.generate_latest(_LIVE)


@csrf_exempt  # GET only: another method gets the 405 in the error shape
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of this deployment's metrics (METRICS_TOKEN or METRICS_ALLOWED_NETWORKS)."""
    if not probe_reader(request):
        raise PermissionDenied(
            "Metrics are for the monitoring system: send METRICS_TOKEN as a bearer token, or "
            "scrape from an allowed network."
        )
    return HttpResponse(exposition(), content_type=prometheus_client.CONTENT_TYPE_LATEST)
