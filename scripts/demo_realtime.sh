#!/usr/bin/env bash
# The demo's real-time lane (Procfile.demo): once the web process answers, register our FHIR Subscriptions with
# the sandbox EHR (its handshake calls the web process back, so it must be up), then consume the vitals stream.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
URL="http://127.0.0.1:${DEMO_PORT:-8000}/healthz"
"$PY" - "$URL" <<'PYEOF'
import sys, time, urllib.request
for _ in range(240):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit(f"the web process did not answer at {sys.argv[1]}")
PYEOF
"$PY" manage.py subscriptions register --iss "${PUBLIC_BASE_URL:-http://127.0.0.1:${DEMO_PORT:-8000}}/sandbox/fhir"
exec "$PY" manage.py realtime_consume --name demo
