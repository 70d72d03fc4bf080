"""What one CDS patient-view call costs in CPU instructions: a figure that a busy machine does not move.

`cds_patient_view.py` times the call under gunicorn; on a shared machine its figures vary by a fifth from one run to
the next, more than most changes move them. This counts instead, with valgrind's callgrind, the instructions (and
the simulated cache misses) of the same request (the same 500-Observation prefetch of a real stay, a fresh signed
JWT per call) made in process through Django's test client, the whole middleware stack, trust checks, scoring,
card, audit and served-inference writes included. Counts repeat to within a fraction of a percent, so two builds
compare on any machine: run it in each, one after the other (never two at once on one SQLite database: a
waiting lock costs instructions too). The string hash seed is fixed (PYTHONHASHSEED, 0 unless set).

Each TTL cache keeps its entry for the run: under valgrind a call takes about a second, so the 5-second caches
(serving models, trusted clients) would be refilled every few calls instead of once per ~500 at 100 calls/s.

    .venv/bin/python benchmarks/cds_call_instructions.py [--calls 10] [--service stratify-sepsis]

Needs valgrind (Debian: `apt-get install valgrind`; `callgrind_control` interrupts the process, so ptrace must be
allowed) and the database `make demo` sets up (or migrate + install_models). A call takes about a second under
valgrind and the tokens live 10 minutes: keep --calls under ~300. "est. cycles" weighs a first-level cache miss
as 10 instructions and a last-level one as 100.
"""

import argparse
import gc
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cds_patient_view as view  # the same request as the timed benchmark

PORT = 8000  # only names the audience (aud) the tokens are signed for: nothing listens
INSIDE = "--inside-valgrind"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--service", default="stratify-sepsis")
    parser.add_argument(INSIDE, action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def _caller(service: str, calls: int) -> Any:
    """A function that makes one call (200 expected), with tokens for `calls` and the warm-up."""
    import orjson
    from django.test import Client

    patient_id, prefetch = view._prefetch(service)
    path = f"/cds-services/{service}"
    body = orjson.dumps(
        {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/bench", "patientId": patient_id},
            "prefetch": prefetch,
        }
    )
    tokens = view._tokens(view._client_key([]), f"http://127.0.0.1:{PORT}{path}", calls + 5)
    client = Client(HTTP_HOST=f"127.0.0.1:{PORT}")

    def call() -> None:
        response = client.post(
            path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {tokens.pop()}"
        )
        if response.status_code != 200:
            raise SystemExit(f"POST {path} answered {response.status_code}: {response.content[:300]!r}")

    return call


def _inside(args: argparse.Namespace) -> None:
    """Under valgrind: warm up uninstrumented, then count `args.calls` calls."""
    view._setup(PORT)
    from cds_hooks.replay import used_jti_purge
    from config.ttl_cache import TtlCache

    call = _caller(args.service, args.calls)
    for _ in range(5):  # model sessions, caches, the database connection
        call()
    for cache in (o for o in gc.get_objects() if isinstance(o, TtlCache)):
        cache.ttl_seconds = math.inf
    used_jti_purge()  # earlier runs' expired rows: else the call that purges them (one in 16) costs what they do
    gc.collect()
    gc.freeze()  # as gunicorn's workers do (config/gunicorn.py)
    _instrument("on")
    for _ in range(args.calls):
        call()
    _instrument("off")


def _instrument(state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)


def _outside(args: argparse.Namespace) -> None:
    """Run this script under callgrind and print what the counted calls cost."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--cache-sim=yes",
            f"--callgrind-out-file={folder}/callgrind.out",
            sys.executable,
            __file__,
            INSIDE,
            f"--calls={args.calls}",
            f"--service={args.service}",
        ]
        seed = dict(os.environ, PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0"))  # the same dict layouts each run
        done = subprocess.run(command, capture_output=True, text=True, env=seed)
    found = re.search(r"Collected : ([\d ]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the counted run failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    ir, _dr, _dw, i1, d1r, d1w, lli, lldr, lldw = (int(n) for n in found.group(1).split())
    per_call = args.calls * 1e6
    misses_l1, misses_ll = i1 + d1r + d1w, lli + lldr + lldw
    print(f"{args.service}: {args.calls} calls in process under callgrind, per call:")
    print(f"  instructions {ir / per_call:.2f} M")
    print(f"  first-level cache misses {misses_l1 / per_call:.3f} M, last-level {misses_ll / per_call * 1000:.1f} k")
    print(f"  est. cycles {(ir + 10 * misses_l1 + 100 * misses_ll) / per_call:.1f} M")


if __name__ == "__main__":
    arguments = _args()
    if arguments.inside_valgrind:
        _inside(arguments)
    else:
        _outside(arguments)
