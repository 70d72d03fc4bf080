"""An independent FHIR R4 validator for the tests: FHIR.js (npm `fhir`, pinned in tests/validator) under Node.

It checks what JSON-schema validation cannot: reference target types, cardinalities, required bindings and
data types. `npm ci` in tests/validator (scripts/system_deps.sh, or here on first use) installs it.
"""
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

VALIDATOR_DIR = Path(__file__).resolve().parent / "validator"


def validator_install() -> None:
    """Install the pinned validator from its lock file when it is not there yet."""
    if (VALIDATOR_DIR / "node_modules" / "fhir").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("node and npm are needed for the FHIR validator (scripts/system_deps.sh installs them)")
    subprocess.run([npm, "ci", "--silent", "--no-audit", "--no-fund"], cwd=VALIDATOR_DIR, check=True,
                   timeout=300)


def fhir_validate(resources: list[dict[str, Any]]) -> list[str]:
    """Every error FHIR.js finds, as "<resource> <id or #index>: <path>: <rule>" lines ([] = all valid)."""
    validator_install()
    node = shutil.which("node") or "node"
    done = subprocess.run([node, str(VALIDATOR_DIR / "validate.js")], input=json.dumps(resources),
                          capture_output=True, text=True, check=True, timeout=120)
    errors = []
    for i, (resource, outcome) in enumerate(zip(resources, json.loads(done.stdout), strict=True)):
        name = f"{resource.get('resourceType')} {resource.get('id') or f'#{i}'}"
        errors += [f"{name}: {m['location']}: {m['message']}" for m in outcome["messages"]]
    return errors
