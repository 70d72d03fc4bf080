"""Stratify test suite."""
