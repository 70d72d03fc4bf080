#!/usr/bin/env bash
# Set up and serve the product on its embedded default (SQLite, eager Celery, sandbox EHR, models).
set -euo pipefail
cd "$(dirname "$0")/.."
# The demo's data first (standard library only): without them, and without network or a mirror, stop within
# seconds with one message instead of after minutes of installs. Same as `manage.py fetch_datasets --demo`.
"${PYTHON:-python3}" -m datasources --demo
bash scripts/bootstrap.sh
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.base}
PY=.venv/bin/python
mkdir -p var
# --skip-checks: an older database may still list a model version this checkout no longer ships;
# install_models (in demo_setup) repairs that, and `manage.py check` reports it until then.
$PY manage.py migrate --noinput --skip-checks
$PY manage.py demo_setup
echo "==> Stratify is at http://127.0.0.1:8000  (sandbox EHR: http://127.0.0.1:8000/sandbox/ehr/)"
# --insecure: serve static files with DEBUG off, so errors keep the product's shape in the demo too.
exec $PY manage.py runserver 127.0.0.1:8000 --noreload --insecure
