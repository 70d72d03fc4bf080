#!/usr/bin/env bash
# Set up and serve the product on its embedded default (SQLite, eager Celery, sandbox EHR, models).
set -euo pipefail
cd "$(dirname "$0")/.."
# The demo's data first (standard library only): without them, and without network or a mirror, stop within
# seconds with one message instead of after minutes of installs. Same as `manage.py fetch_datasets --demo`.
"${PYTHON:-python3}" -m datasources --demo
bash scripts/bootstrap.sh
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.base}
export DEMO_PORT=${DEMO_PORT:-8000}
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://127.0.0.1:$DEMO_PORT}
# Alert e-mails go to a local mailbox: one file per message in var/mail (unless a mail server is configured).
if [ -z "${EMAIL_HOST:-}" ]; then
  export EMAIL_BACKEND=${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}
fi
PY=.venv/bin/python
mkdir -p var
# --skip-checks: an older database may still list a model version this checkout no longer ships;
# install_models (in demo_setup) repairs that, and `manage.py check` reports it until then.
$PY manage.py migrate --noinput --skip-checks
$PY manage.py demo_setup
echo "==> Stratify is at $PUBLIC_BASE_URL  (sandbox EHR: $PUBLIC_BASE_URL/sandbox/ehr/)"
# The real-time lane (replay vitals -> subscription -> stream -> rescore -> alert) needs a Redis: only its
# stream and state go there (REALTIME_REDIS_URL); cache, Celery and everything else stay embedded.
if [ -z "${REALTIME_REDIS_URL:-}" ] && bash scripts/services.sh redis; then
  export REALTIME_REDIS_URL=redis://127.0.0.1:6379/1
fi
if [ -n "${REALTIME_REDIS_URL:-}" ]; then
  echo "==> real-time lane on (stream at $REALTIME_REDIS_URL); alert inbox: $PUBLIC_BASE_URL/alerts/  e-mails: var/mail"
  # `serve` (Procfile.demo): runserver --insecure (static files with DEBUG off, so errors keep the product's shape)
  # plus the in-process reconcilers (config/serving.py).
  exec .venv/bin/honcho -f Procfile.demo start
fi
echo "note: no Redis on 127.0.0.1:6379: the real-time lane (replay vitals -> alerts) is off" >&2
exec $PY manage.py serve "127.0.0.1:$DEMO_PORT"
