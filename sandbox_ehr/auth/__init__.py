"""Sandbox SMART authorization server built on django-oauth-toolkit."""
