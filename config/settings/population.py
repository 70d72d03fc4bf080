"""Population stratification (FHIR Bulk Data in, scored cohorts out) and the sandbox's Bulk Data export."""

from config.env import BASE_DIR, env

# Where the sandbox EHR writes its $export NDJSON files (development sandbox only).
SANDBOX_BULK_DIR = env.path("SANDBOX_BULK_DIR", default=str(BASE_DIR / "var" / "bulk-export"))
# Seconds a client is told to wait between status polls while an export runs (Retry-After).
SANDBOX_BULK_RETRY_AFTER = env.int("SANDBOX_BULK_RETRY_AFTER", default=2)
# Lifetime of the sandbox's SMART Backend Services (client_credentials) access tokens: short, as the SMART
# Backend Services guide recommends (no longer than 5 minutes), so a long run outlives several of them.
SANDBOX_BACKEND_TOKEN_SECONDS = env.int("SANDBOX_BACKEND_TOKEN_SECONDS", default=300)
# Where population runs keep downloaded NDJSON, each cohort's merged data and the per-chunk files.
# Every worker of a run must see this folder (one machine, or a shared volume).
POPULATION_DIR = env.path("POPULATION_DIR", default=str(BASE_DIR / "var" / "population"))
POPULATION_CHUNK_SIZE = env.int("POPULATION_CHUNK_SIZE", default=500)
# Status polling: honour Retry-After, else back off exponentially from 1 s up to this cap; give up after the total.
BULK_POLL_BACKOFF_CAP_SECONDS = env.float("BULK_POLL_BACKOFF_CAP_SECONDS", default=60.0)
BULK_POLL_TOTAL_SECONDS = env.float("BULK_POLL_TOTAL_SECONDS", default=6 * 3600.0)
# Outcome collection from registered EHRs (population.services.outcomes): seconds per FHIR request.
OUTCOMES_HTTP_TIMEOUT = env.float("OUTCOMES_HTTP_TIMEOUT", default=30.0)
# Hard time limit of one chunk's scoring task, and so the lease its attempt holds on the chunk: a chunk whose
# attempt was killed or hung is queued again by the chunk reconciler (Celery beat, every minute) once the lease
# has run out plus the grace below, not after Redis's visibility timeout (over an hour). A chunk of the default
# 500 patients scores in seconds; the limit leaves room for a cold worker and larger chunks.
POPULATION_CHUNK_TIME_LIMIT_SECONDS = env.int("POPULATION_CHUNK_TIME_LIMIT_SECONDS", default=600)
POPULATION_RECONCILE_GRACE_SECONDS = env.int("POPULATION_RECONCILE_GRACE_SECONDS", default=60)
# A chunk whose attempts reach this many without finishing ends its run as failed, instead of being queued again
# for ever (a chunk that kills its worker every time).
POPULATION_CHUNK_MAX_ATTEMPTS = env.int("POPULATION_CHUNK_MAX_ATTEMPTS", default=3)
# How often the chunk reconciler runs inside each serving process of the embedded default (no broker, so no beat).
POPULATION_RECONCILE_INTERVAL_SECONDS = env.float("POPULATION_RECONCILE_INTERVAL_SECONDS", default=60.0)
