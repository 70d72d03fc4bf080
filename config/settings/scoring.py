"""Scoring settings: canary share of patients; model monitoring (retention of served inferences, drift)."""

from config.env import BASE_DIR, env

# Percentage of patients (deterministic hash bucket) a `canary` model version answers for instead of the active one.
SCORING_CANARY_PERCENT = env.int("SCORING_CANARY_PERCENT", default=10)

# Every scored inference keeps its inputs, score and band for the drift monitors (scoring.monitoring), under the
# patient's pseudonym; the daily monitor task deletes those older than this many days.
MONITORING_RETENTION_DAYS = env.int("MONITORING_RETENTION_DAYS", default=90)
# The window the daily drift monitor compares with each version's reference profile (days before the run).
MONITORING_WINDOW_DAYS = env.int("MONITORING_WINDOW_DAYS", default=7)
# Fewer served inferences than this in the window: the monitor reports "too few" instead of testing.
MONITORING_MIN_ROWS = env.int("MONITORING_MIN_ROWS", default=100)

# Site-adapted versions (`manage.py adapt_model`) are written here, NAME/VERSION/, not into the shipped artifacts.
LOCAL_ARTIFACTS_DIR = env.path("STRATIFY_LOCAL_ARTIFACTS_DIR", default=str(BASE_DIR / "var" / "artifacts"))
# Promoting a version to canary or active needs a second person's approval (the requester cannot approve).
PROMOTION_TWO_PERSON_RULE = env.bool("PROMOTION_TWO_PERSON_RULE", default=True)
# Served inferences of the champion a promotion request rescores with the challenger (the most recent ones).
PROMOTION_SERVED_CASES = env.int("PROMOTION_SERVED_CASES", default=5000)
# Resamples (of patients) behind each performance metric's 95 % interval (scoring.monitoring.performance).
MONITORING_BOOTSTRAP = env.int("MONITORING_BOOTSTRAP", default=200)
