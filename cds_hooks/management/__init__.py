"""Management commands of cds_hooks."""
