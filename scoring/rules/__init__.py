"""Transparent rule scores (NEWS2, qSOFA): pure functions over the latest observed values."""
