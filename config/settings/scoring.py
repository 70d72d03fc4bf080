"""Scoring settings: canary share of patients."""
from config.env import env

# Percentage of patients (deterministic hash bucket) a `canary` model version answers for instead of the active one.
SCORING_CANARY_PERCENT = env.int("SCORING_CANARY_PERCENT", default=10)
