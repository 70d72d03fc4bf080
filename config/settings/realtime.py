"""Real-time door settings (realtime): device ingestion, the stream consumer, the per-patient online state."""

from config.env import env

# The Redis that carries the vitals stream, the per-patient online state and their locks. By default the same
# as REDIS_URL; the demo sets only this one, so its cache, Celery and JWT replay store stay embedded.
REALTIME_REDIS_URL = env.str("REALTIME_REDIS_URL", default=env.str("REDIS_URL", default=""))

# Score listeners (dotted paths) called once per store of rescores, inside its transaction, with one argument: a
# list of scoring.types.PatientScores (registration, patient id, unit, results with the served one first).
REALTIME_SCORE_LISTENERS = env.list("REALTIME_SCORE_LISTENERS", default=["alerts.services.alerts_on_scores"])
# Device ingestion: most events in one request; clock skew tolerated on an event's time and the JWT's times.
REALTIME_MAX_EVENTS_PER_REQUEST = env.int("REALTIME_MAX_EVENTS_PER_REQUEST", default=1000)
REALTIME_FUTURE_SKEW_SECONDS = env.int("REALTIME_FUTURE_SKEW_SECONDS", default=300)
REALTIME_JWT_LEEWAY_SECONDS = env.int("REALTIME_JWT_LEEWAY_SECONDS", default=30)
# SMART Backend Services: the client assertion lives at most five minutes (SMART App Launch 2.2).
REALTIME_JWT_MAX_LIFETIME_SECONDS = env.int("REALTIME_JWT_MAX_LIFETIME_SECONDS", default=300)
# Consumer: entries read per XREADGROUP, how long it blocks, after how long another consumer's pending entry is
# claimed (XAUTOCLAIM: that consumer died), after how many deliveries an entry is dead-lettered. A step rescores
# each patient once for all their entries in it, so a backlog is worked off in large steps (a rescore costs about
# as much as 100 events folded into the state); a step lasts about (patients in it) x (one rescore), which must
# stay well under REALTIME_CLAIM_IDLE_MS.
REALTIME_READ_COUNT = env.int("REALTIME_READ_COUNT", default=1000)
REALTIME_BLOCK_MS = env.int("REALTIME_BLOCK_MS", default=1000)
REALTIME_CLAIM_IDLE_MS = env.int("REALTIME_CLAIM_IDLE_MS", default=30_000)
REALTIME_MAX_DELIVERIES = env.int("REALTIME_MAX_DELIVERIES", default=5)
# Stored device events not yet on the stream this long after receipt are published again (outbox relay).
REALTIME_RELAY_AFTER_SECONDS = env.int("REALTIME_RELAY_AFTER_SECONDS", default=30)
# The stream is trimmed to about this many entries (entries acknowledged long before).
REALTIME_STREAM_MAXLEN = env.int("REALTIME_STREAM_MAXLEN", default=100_000)
# A patient's online state expires this long after their last event (then rebuilt from the EHR).
REALTIME_STATE_TTL_SECONDS = env.int("REALTIME_STATE_TTL_SECONDS", default=48 * 3600)
# Online states a consumer keeps parsed in memory (the least recently rescored dropped first; one is read from
# Redis again when dropped): a state of 3,000 Observations takes about 10 MB parsed.
REALTIME_STATE_COPIES = env.int("REALTIME_STATE_COPIES", default=200)
# Deadline of the initial EHR fetch that builds a patient's online state.
REALTIME_FETCH_SECONDS = env.float("REALTIME_FETCH_SECONDS", default=30.0)
# A rescore whose data describe a moment more than this long before now (a batch sent late, a replayed stay) is
# recorded and audited, but not told to the score listeners (alerts): an alert is about the patient now, never
# about a past moment (an operational setting, not a clinical threshold).
REALTIME_ALERT_MAX_LAG_MINUTES = env.int("REALTIME_ALERT_MAX_LAG_MINUTES", default=60)
# Device vitals and rescore records are kept this long.
REALTIME_RETENTION_DAYS = env.int("REALTIME_RETENTION_DAYS", default=30)
