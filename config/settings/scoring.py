"""Scoring settings: canary share of patients; model monitoring (retention of served inferences, drift)."""

from config.env import env

# Percentage of patients (deterministic hash bucket) a `canary` model version answers for instead of the active one.
SCORING_CANARY_PERCENT = env.int("SCORING_CANARY_PERCENT", default=10)

# Every scored inference keeps its inputs, score and band for the drift monitors (scoring.monitoring), under the
# patient's pseudonym; the daily monitor task deletes those older than this many days.
MONITORING_RETENTION_DAYS = env.int("MONITORING_RETENTION_DAYS", default=90)
# The window the daily drift monitor compares with each version's reference profile (days before the run).
MONITORING_WINDOW_DAYS = env.int("MONITORING_WINDOW_DAYS", default=7)
# Fewer served inferences than this in the window: the monitor reports "too few" instead of testing.
MONITORING_MIN_ROWS = env.int("MONITORING_MIN_ROWS", default=100)
# Resamples (of patients) behind each performance metric's 95 % interval (scoring.monitoring.performance).
MONITORING_BOOTSTRAP = env.int("MONITORING_BOOTSTRAP", default=200)
