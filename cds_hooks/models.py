"""ORM models of cds_hooks."""
