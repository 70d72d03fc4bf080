"""Base settings: the embedded default (SQLite, eager Celery, local-memory cache, sandbox EHR on)."""

from config.env import BASE_DIR, INSECURE_DEV_SECRET, env
from config.settings.alerts import *  # noqa: F403
from config.settings.cds import *  # noqa: F403
from config.settings.celery import *  # noqa: F403
from config.settings.logging import LOGGING  # noqa: F401
from config.settings.population import *  # noqa: F403
from config.settings.realtime import *  # noqa: F403
from config.settings.sandbox_auth import *  # noqa: F403
from config.settings.scoring import *  # noqa: F403
from config.settings.security import *  # noqa: F403
from config.settings.smart import *  # noqa: F403
from config.settings.stores import CACHES, DATABASES, REDIS_URL  # noqa: F401
from config.settings.subscriptions import *  # noqa: F403
from config.settings.writeback import *  # noqa: F403
from datasources.location import data_dir

CELERY_BEAT_SCHEDULE = {**CELERY_BEAT_SCHEDULE, **ALERTS_BEAT_SCHEDULE}  # noqa: F405

SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEV_SECRET)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The public base URL the product is reached at (used for absolute URLs in CDS cards, SMART redirects,
# and the `aud` CDS clients must put in their JWTs).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

SANDBOX_EHR_ENABLED = env.bool("SANDBOX_EHR_ENABLED", default=True)
# The one place code and tests find the data sets: STRATIFY_DATA_DIR, else shared/data beside the checkout, else
# var/data (`manage.py fetch_datasets` fills it).
SHARED_DATA = data_dir()

# Key material kept only in the environment. The development defaults are derived at runtime and are
# refused by the production checks.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")
AUDIT_PSEUDONYM_KEY = env.str("AUDIT_PSEUDONYM_KEY", default="")
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="")
# Signed checkpoints of the audit chain's head, appended here (and logged) outside the database.
AUDIT_CHECKPOINT_FILE = env.path("AUDIT_CHECKPOINT_FILE", default=str(BASE_DIR / "var" / "audit-checkpoints.jsonl"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "config.apps.ConfigAppConfig",
    "audit",
    "fhirapp",
    "scoring",
    "cds_hooks",
    "smart_launch",
    "sidebar",
    "population",
    "alerts",
    "realtime",
]
if SANDBOX_EHR_ENABLED:
    # django-oauth-toolkit is only the sandbox's authorization server: production does not ship one.
    INSTALLED_APPS += ["oauth2_provider", "sandbox_ehr.fhir", "sandbox_ehr.auth", "sandbox_ehr.ehr"]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "config.middleware.RequestIdMiddleware",
    "config.middleware.RejectNulMiddleware",  # before anything (sessions, CSRF, views) reads the request's text
    "config.middleware.ContentSecurityPolicyMiddleware",
    "corsheaders.middleware.CorsMiddleware",  # before CommonMiddleware; CDS paths only (CORS_URLS_REGEX)
    "django.middleware.security.SecurityMiddleware",
    "config.sessions.PathSessionMiddleware",  # the sidebar's own cookie under /smart/
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ApplicationErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The time zone clinicians read times in (the EHR's local zone); surfaces show UTC beside or on hover.
DISPLAY_TIME_ZONE = env.str("STRATIFY_DISPLAY_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# OpenAPI 3 of the DRF APIs (the population API), at /api/schema/ for signed-in users.
SPECTACULAR_SETTINGS = {
    "TITLE": "Stratify population API",
    "DESCRIPTION": "Cohorts, population runs (start, status, cancel) and ranked worklist rows.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": ["rest_framework.authentication.SessionAuthentication"],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# Who may read /metrics and /readyz's detail (config/probes.py): a bearer token, or these networks (REMOTE_ADDR).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
CSRF_FAILURE_VIEW = "config.api_errors.csrf_failure"  # the error shape, never Django's HTML page on JSON paths
SESSION_COOKIE_HTTPONLY = True
LOGIN_URL = "login"  # config.urls: Django's sign-in page, for the pages that need an account
LOGIN_REDIRECT_URL = "landing"  # after signing in without a `next` page
LOGOUT_REDIRECT_URL = "landing"
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "SAMEORIGIN"
# (label, management command with its arguments) run in order by `manage.py demo_setup` after migrate.
DEMO_SETUP_COMMANDS: list[tuple[str, str]] = [
    ("models: install the shipped sepsis/readmission artifacts and rule scores", "install_models"),
    # A re-run an hour or more later loads the patients again ending now, so their data are never stale.
    ("sandbox EHR: load Synthea and PhysioNet patients", "load_sandbox_data --reanchor-after 1"),
    ("sandbox EHR: SMART clients, signing keys, trusted CDS client", "sandbox_setup"),
    ("governance: clinician / admin / auditor groups", "governance_setup"),
    ("SMART launch: register the sandbox EHR and our client keys", "smart_demo_setup"),
    ("sandbox EHR: demo Groups (ICU, Diabetes clinic)", "sandbox_groups"),
    ("population: demo cohorts of those Groups (nightly; Run now on their worklist pages)", "population_demo_setup"),
    ("models: a sepsis version recalibrated on the sandbox's set-B stays, awaiting approval", "adapt_demo_setup"),
    # Once: the sandbox's set-B stays scored against the set-A reference, their outcomes, drift + performance runs.
    ("monitoring: set-B stays served against the set-A reference, then monitored", "monitoring_demo"),
    ("real-time: alert policies e-mailing the demo's mailbox (var/mail)", "realtime_demo_setup"),
]

# `manage.py production_setup` (idempotent): each app's step, then what an operator must still add, as
# (model whose rows must exist, what to do when there is none).
PRODUCTION_SETUP_COMMANDS: list[tuple[str, str]] = [
    ("models: install the shipped sepsis/readmission artifacts and rule scores", "install_models"),
    ("governance: clinician / admin / auditor groups", "governance_setup"),
    ("SMART launch: our client signing keys (RS384 + ES384)", "smart_keys ensure"),
]
PRODUCTION_SETUP_TODO: list[tuple[str, str]] = [
    (
        "smart_launch.EhrRegistration",
        "register the EHR (its FHIR base URL as iss, our client id there) in Django admin, EHR registrations",
    ),
    (
        "cds_hooks.TrustedCdsClient",
        "trust the EHR's CDS client: manage.py cds_client add --iss <its iss> --jwks-url <its JWKS URL>",
    ),
]
