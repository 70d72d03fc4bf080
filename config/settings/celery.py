"""Celery: Redis broker and result backend when REDIS_URL is set, otherwise tasks run eagerly."""

from celery.schedules import crontab

from config.env import env

_REDIS_URL = env.str("REDIS_URL", default="")

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=_REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not _REDIS_URL)
# Off, so an eager task (no Redis: demo, tests) behaves as in a worker: a retry re-runs it, a final
# failure calls its on_failure and is kept in its result (`.get()` still raises it).
CELERY_TASK_EAGER_PROPAGATES = False
# Tasks a task sends go to this queue too (a test worker consumes its own queue only).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Run by `celery -A config beat`. Housekeeping expires before the next run, so a stopped worker never
# finds a backlog of them.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Expired SMART launch data (authorization requests, sessions; see SMART_SESSION_RETENTION_HOURS).
    "smart-cleanup-hourly": {
        "task": "stratify.smart_cleanup",
        "schedule": crontab(minute=0),
        "options": {"expires": 55 * 60},
    },
    # Each cohort's nightly run starts at its own time (Cohort.schedule_time, edited in admin).
    "population-schedule": {
        "task": "population.schedule_due",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # Pending write-backs whose message was lost (a killed worker, a broker outage, a full queue) are queued again.
    "write-back-reconcile": {
        "task": "fhirapp.write_back_reconcile",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Chunks of population runs whose worker was killed or hung (lease run out) are queued again.
    "population-chunks-reconcile": {
        "task": "population.chunks_reconcile",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # A signed checkpoint of the audit chain's head, outside the database (audit/checkpoints.py).
    "audit-checkpoint": {
        "task": "stratify.audit_checkpoint",
        "schedule": env.float("AUDIT_CHECKPOINT_MINUTES", default=15.0) * 60,
        "options": {"expires": 10 * 60},
    },
    # Outcomes (sepsis onsets, readmissions) from every registered EHR, before the monitors read them.
    "outcomes-collect-daily": {
        "task": "population.outcomes_collect",
        "schedule": crontab(minute=0, hour=2),
        "options": {"expires": 23 * 60 * 60},
    },
    # FHIR Subscriptions: missed heartbeats, gaps and subscriptions in error are recovered (realtime).
    "realtime-subscriptions-check": {
        "task": "realtime.subscriptions_check",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Device vitals, rescore records and dead-lettered stream entries older than REALTIME_RETENTION_DAYS
    # (realtime.retention).
    "realtime-purge-daily": {
        "task": "realtime.purge",
        "schedule": crontab(minute=15, hour=3),
        "options": {"expires": 23 * 60 * 60},
    },
    # Drift and performance of each serving ML version over the last MONITORING_WINDOW_DAYS, and the
    # served-inference purge (MONITORING_RETENTION_DAYS); scoring.monitoring.
    "monitor-models-daily": {
        "task": "stratify.monitor_models",
        "schedule": crontab(minute=30, hour=2),
        "options": {"expires": 23 * 60 * 60},
    },
}
