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
