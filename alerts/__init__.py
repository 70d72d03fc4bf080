"""Alerts: the lifecycle of a score that crosses into an alerting band, its notifications and their burden."""
