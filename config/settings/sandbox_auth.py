"""Settings of the sandbox SMART authorization server (sandbox_ehr.auth)."""

# django-oauth-toolkit's swappable application model, named explicitly so our ClientProfile's
# foreign key resolves in migrations.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
