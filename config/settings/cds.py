"""CDS Hooks service settings (cds_hooks): call budget, JWT trust, JWKS caching."""
from config.env import env

# Whole-call budget of one CDS service call (ms): slow upstream data degrades the answer, never hangs it.
CDS_CALL_BUDGET_MS = env.int("CDS_CALL_BUDGET_MS", default=400)
# Share of the budget kept for scoring and the response after fetching FHIR data (ms).
CDS_SCORING_RESERVE_MS = env.int("CDS_SCORING_RESERVE_MS", default=80)
# Clock skew tolerated on the CDS client JWT's exp/iat (seconds).
CDS_JWT_LEEWAY_SECONDS = env.int("CDS_JWT_LEEWAY_SECONDS", default=30)
# Longest lifetime (exp - iat) accepted for a CDS client JWT; the spec recommends 5 minutes.
CDS_JWT_MAX_LIFETIME_SECONDS = env.int("CDS_JWT_MAX_LIFETIME_SECONDS", default=900)
# How long a client's JWKS fetched from its jwks_url is cached (seconds).
CDS_JWKS_CACHE_SECONDS = env.int("CDS_JWKS_CACHE_SECONDS", default=3600)
# At most one JWKS refetch per client per this many seconds when a token names an unknown kid.
CDS_JWKS_REFETCH_MIN_SECONDS = env.int("CDS_JWKS_REFETCH_MIN_SECONDS", default=60)
# Timeout of one JWKS fetch (seconds).
CDS_JWKS_TIMEOUT_SECONDS = env.float("CDS_JWKS_TIMEOUT_SECONDS", default=3.0)
