#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer; start them if installed
# but stopped; otherwise say exactly what is missing and fail. `services.sh redis`: Redis only (the demo's
# real-time lane).
set -uo pipefail
ONLY=${1:-all}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
wait_for() { for _ in $(seq 1 30); do "$1" && return 0; sleep 1; done; return 1; }

if [ "$ONLY" != redis ] && ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    echo "==> starting PostgreSQL"
    for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>&1 || true; done
  elif command -v pg_ctl >/dev/null 2>&1 && [ -n "${PGDATA:-}" ]; then
    pg_ctl -D "$PGDATA" -l "$PGDATA/server.log" start
  fi
  if ! wait_for pg_up; then
    echo "PostgreSQL is not answering on 127.0.0.1:5432 and could not be started." >&2
    echo "Install it (Debian: apt-get install postgresql) with trust auth for local TCP, or set DATABASE_URL." >&2
    exit 1
  fi
fi

if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "==> starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/stratify-redis.log
  fi
  if ! wait_for redis_up; then
    echo "Redis is not answering on 127.0.0.1:6379 and could not be started." >&2
    echo "Install it (Debian: apt-get install redis-server) or set REDIS_URL." >&2
    exit 1
  fi
fi


if [ "$ONLY" = redis ]; then
  echo "==> Redis is up on 127.0.0.1:6379"
  exit 0
fi

# The database the test settings point at (pytest-django creates test_stratify from it).
if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='stratify'" 2>/dev/null | grep -q 1; then
  createdb -h 127.0.0.1 -U postgres stratify 2>/dev/null || echo "note: could not create database 'stratify' (tests still create test_stratify)" >&2
fi
echo "==> PostgreSQL and Redis are up on 127.0.0.1"
