"""CDS Hooks service settings (cds_hooks): call budget, JWT trust, JWKS caching, CORS."""

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

# A card with no feedback this long after issue counts as ignored in the alert burden (younger: "awaiting").
# CDS clients send feedback when the clinician acts on the card, i.e. within the chart session.
CDS_FEEDBACK_WINDOW_MINUTES = env.int("CDS_FEEDBACK_WINDOW_MINUTES", default=60)
# CORS for browser-based CDS clients (CDS Hooks 2.0 "CORS": services will require it). Only discovery,
# the services and their feedback answer cross-origin requests (CORS_URLS_REGEX); admin, the sidebar and
# the sandbox's authorization pages never do. The client JWT is the credential, never a cookie, so no
# Access-Control-Allow-Credentials. "*" (the default) allows any origin; otherwise a list of origins.
CDS_CORS_ALLOWED_ORIGINS = env.list("CDS_CORS_ALLOWED_ORIGINS", default=["*"])
CORS_URLS_REGEX = r"^/cds-services(/[A-Za-z0-9._-]{1,100}(/feedback)?)?$"
CORS_ALLOW_ALL_ORIGINS = CDS_CORS_ALLOWED_ORIGINS == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else CDS_CORS_ALLOWED_ORIGINS
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("GET", "POST", "OPTIONS")
CORS_ALLOW_HEADERS = ("authorization", "content-type", "x-request-id")
CORS_PREFLIGHT_MAX_AGE = 600
# Where the jti of each accepted CDS client JWT is kept (replay protection, shared by every process):
# "cache" (Redis, when REDIS_URL is set) or "database" (the UsedJti table). Production refuses anything
# that is not shared across processes (cds_hooks.checks).
CDS_JTI_STORE = env.str("CDS_JTI_STORE", default="cache" if env.str("REDIS_URL", default="") else "database")
