"""A helper the PostgreSQL benchmarks share (`realtime.py`, `realtime_step.py`): their database, made when missing."""

from __future__ import annotations


def database_ensure(url: str) -> None:
    """Create the database `url` names when it does not exist (on the same server, through `postgres`)."""
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
