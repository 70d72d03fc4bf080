"""Write-back and governance settings (fhirapp): switch, backend scope, retry policy, admin groups."""

from config.env import env

# Write scores back to the EHR as RiskAssessment/Observation/Provenance (docs/architecture.md#write-back).
WRITEBACK_ENABLED = env.bool("WRITEBACK_ENABLED", default=True)
# SMART Backend Services scope asked for: create; search + read for the pre-check and for a conditional
# create (ifNoneExist) that matches and answers the existing resource. Provenance is create-only.
WRITEBACK_SCOPE = env.str(
    "WRITEBACK_SCOPE", default="system/RiskAssessment.crs system/Observation.crs system/Provenance.c"
)
# Celery's retry of a transient failure (timeout, 5xx, 408, 429): countdown drawn from
# [0, min(BASE * 2**retry, MAX)] seconds (BASE rounded to whole seconds, at least 1); other 4xx never retry.
# In the embedded default (no broker) the in-process pool waits min(BASE * 2**retry, MAX) seconds, half of it
# jittered, before it delivers again (fhirapp/tasks.py).
WRITEBACK_MAX_RETRIES = env.int("WRITEBACK_MAX_RETRIES", default=6)
WRITEBACK_RETRY_BASE_SECONDS = env.float("WRITEBACK_RETRY_BASE_SECONDS", default=30.0)
WRITEBACK_RETRY_MAX_SECONDS = env.float("WRITEBACK_RETRY_MAX_SECONDS", default=3600.0)
# Background threads delivering write-backs in the embedded default (no broker: CELERY_TASK_ALWAYS_EAGER);
# with a broker, Celery workers deliver. Either way never inside the request.
WRITEBACK_THREADS = env.int("WRITEBACK_THREADS", default=2)
# At exit, the embedded default's pool waits this long for deliveries under way, then leaves the rest pending (their
# leases released) for the reconciler: an EHR that hangs never holds a stop or a reload.
WRITEBACK_SHUTDOWN_GRACE_SECONDS = env.float("WRITEBACK_SHUTDOWN_GRACE_SECONDS", default=5.0)
# Deadline of one transaction POST (seconds).
WRITEBACK_TIMEOUT_SECONDS = env.float("WRITEBACK_TIMEOUT_SECONDS", default=20.0)
# Hard time limit of one delivery attempt (token, pre-check search, transaction: each bounded by its own deadline).
WRITEBACK_TASK_TIME_LIMIT_SECONDS = env.int(
    "WRITEBACK_TASK_TIME_LIMIT_SECONDS", default=int(3 * WRITEBACK_TIMEOUT_SECONDS) + 30
)
# A pending write-back this long past its due time (`next_attempt_at`) was lost (a killed worker, a broker outage
# at enqueue, a message left over the queue bound): the reconciler (Celery beat, every minute) queues it again.
WRITEBACK_RECONCILE_GRACE_SECONDS = env.int("WRITEBACK_RECONCILE_GRACE_SECONDS", default=120)
# How often the reconciler runs inside each serving process of the embedded default (no broker, so no beat).
WRITEBACK_RECONCILE_INTERVAL_SECONDS = env.float("WRITEBACK_RECONCILE_INTERVAL_SECONDS", default=60.0)
# At most this many write-back messages wait in the broker; past it new ones are not queued but stay pending
# (the reconciler queues them once the queue drains). Exposed as stratify_writeback_queue_length on /metrics.
WRITEBACK_QUEUE_MAX = env.int("WRITEBACK_QUEUE_MAX", default=10000)
# Least privilege for the `admin` group, as allowlists (a model not listed gets no permission at all,
# e.g. SMART sessions and authorization requests, which hold tokens): full rights on these models ...
GOVERNANCE_ADMIN_MODELS = [
    "scoring.modelversion",
    "scoring.thresholdpolicy",
    "scoring.promotionrequest",
    "cds_hooks.trustedcdsclient",
    "cds_hooks.cdsservicesetting",
    "smart_launch.ehrregistration",
    "alerts.alertpolicy",
    "alerts.deadletter",
]
# ... and view-only on these (history and audit-like tables, our signing keys).
GOVERNANCE_ADMIN_VIEW_MODELS = [
    "scoring.thresholdpolicychange",
    "scoring.modelchange",
    "cds_hooks.issuedcard",
    "cds_hooks.cardfeedback",
    "smart_launch.clientkey",
    "alerts.alert",
    "alerts.notification",
    "alerts.alertpolicychange",
]
# Who gives the write-back its SMART Backend Services token: a function (iss, scope) -> access token.
# Passed in by dotted path so fhirapp does not import the SMART app.
WRITEBACK_TOKEN_PROVIDER = "smart_launch.backend.backend_access_token"  # noqa: S105 - a function path
# Redis gives an unacknowledged message (acks_late) back after this long. It must outlast the longest retry
# countdown plus one attempt, or a retry waiting in a worker would be delivered twice; a killed worker's
# write-back does not wait for it: the reconciler queues it again after its attempt's time limit plus the grace.
# Nor does a population chunk of a killed or hung worker: the chunk reconciler queues it again after the chunk
# task's time limit plus its grace (population.services.reconcile).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int(
        "CELERY_VISIBILITY_TIMEOUT_SECONDS",
        default=int(WRITEBACK_RETRY_MAX_SECONDS) + WRITEBACK_TASK_TIME_LIMIT_SECONDS + 60,
    )
}
