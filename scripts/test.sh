#!/usr/bin/env bash
# The whole test suite: services, lint, type check, Django checks, migrations check, pytest (integration included)
# under the coverage gate (to run a subset of the tests through this script, pass --no-cov with it).
set -euo pipefail
cd "$(dirname "$0")/.."
# Every data set the tests read, before the installs (see scripts/demo.sh); `manage.py fetch_datasets` is the same.
"${PYTHON:-python3}" -m datasources
bash scripts/bootstrap.sh
bash scripts/services.sh
bash scripts/system_deps.sh
export DJANGO_SETTINGS_MODULE=config.settings.test
export STRATIFY_REQUIRE_SERVICES=1
PY=.venv/bin/python
echo "==> ruff"
.venv/bin/ruff format --check .
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy .
echo "==> import contracts (lint-imports)"
.venv/bin/lint-imports
echo "==> manage.py check"
$PY manage.py check --fail-level WARNING
echo "==> makemigrations --check"
$PY manage.py makemigrations --check --dry-run
echo "==> pytest (coverage gate: fail_under in pyproject.toml, Celery worker and other Python subprocesses included)"
$PY -m pytest --cov --cov-report=term-missing:skip-covered "$@"
