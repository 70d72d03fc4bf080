"""FHIR Subscriptions from the EHR (realtime/subscriptions*.py): topics we subscribe to, heartbeats, recovery."""

from config.env import env

# Topic canonical URL -> "<resource type of its events>|<payload content>", per EHR registration. The defaults are
# the sandbox EHR's topics (sandbox_ehr/fhir/subscription_topics.py); for another EHR, list its topics (its
# CapabilityStatement names them). The resource type is what a re-query after a gap searches.
_SANDBOX_TOPICS = "https://stratify.example.org/fhir/SubscriptionTopic"
REALTIME_SUBSCRIPTION_TOPICS: dict[str, str] = env.dict(
    "REALTIME_SUBSCRIPTION_TOPICS",
    default={
        f"{_SANDBOX_TOPICS}/vital-signs-observation": "Observation|full-resource",
        f"{_SANDBOX_TOPICS}/laboratory-observation": "Observation|id-only",
        f"{_SANDBOX_TOPICS}/encounter-change": "Encounter|id-only",
    },
)
# Seconds between the EHR's heartbeats we ask for; missing REALTIME_HEARTBEAT_GRACE of them starts a recovery.
REALTIME_HEARTBEAT_SECONDS = env.int("REALTIME_HEARTBEAT_SECONDS", default=60)
REALTIME_HEARTBEAT_GRACE = env.float("REALTIME_HEARTBEAT_GRACE", default=2.0)
# A re-query after a gap starts this many seconds before the last event seen (clock skew, same-instant writes).
REALTIME_REQUERY_MARGIN_SECONDS = env.int("REALTIME_REQUERY_MARGIN_SECONDS", default=60)
