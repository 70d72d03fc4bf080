"""Database and cache: SQLite/local memory by default, PostgreSQL/Redis when their URLs are set."""

from config.env import BASE_DIR, env

_VAR_DIR = BASE_DIR / "var"
_VAR_DIR.mkdir(exist_ok=True)  # home of the embedded SQLite database

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{_VAR_DIR / 'stratify.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default serves threads (runserver, the sidebar's parallel trend scoring): WAL lets
    # readers run beside the writer, IMMEDIATE transactions queue for the write lock instead of failing
    # with "database is locked" on upgrade, and the busy timeout bounds the wait.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A gunicorn worker keeps its connection (opening one and running the pragmas cost ~5 % of a CDS call);
    # runserver closes each request thread's connections itself.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
elif DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # psycopg 3 is the driver Django picks when installed; keep connections for a few minutes.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    # A kept connection that PostgreSQL ended meanwhile (restart, failover, pg_terminate_backend, an idle timeout) is
    # found dead before the request reuses it and replaced, instead of failing that request's first query.
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "stratify",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
