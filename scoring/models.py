"""ORM models of scoring."""
