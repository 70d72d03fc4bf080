"""ORM models of sandbox_ehr.auth."""
