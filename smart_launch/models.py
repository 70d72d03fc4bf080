"""ORM models of smart_launch."""
