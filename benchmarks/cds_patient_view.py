"""CDS Hooks patient-view latency and throughput under gunicorn (goal: p50 <= 15 ms, p99 <= 50 ms, >= 120 req/s).

Starts gunicorn (2 sync workers, `config/gunicorn.py`) on a free loopback port with the current
settings and database (`make demo` first, or `migrate` + `install_models`), registers a benchmark
CDS client (a fresh ES384 key, inline JWKS), and POSTs a realistic patient-view request: a
prefetch of 500 Observations of a real PhysioNet 2019 stay, converted by the sandbox loader's own
code (`sandbox_ehr.fhir.loader.physionet`), plus Patient and Encounters, answering each of the
service's prefetch templates (null where the stay has no such data, as the spec prescribes).
Every request carries its own signed JWT (fresh jti), so trust checks run in full. Prints p50/p99
of sequential requests and the requests/s of concurrent clients, with the machine's load average
before and after (the figures mean little on a busy machine: read them together). The client runs
in this process, apart from the gunicorn workers; warm-up requests are not counted. gunicorn sync
workers close the connection after each response (no keep-alive), as they would in production.

    .venv/bin/python benchmarks/cds_patient_view.py [--service stratify-sepsis] [--requests 400]
        [--concurrency 4] [--seconds 10] [--hung-write-target]

`--hung-write-target` names a `fhirServer` (with a fhirAuthorization) that accepts connections and never
answers: every scored card then has a write-back to deliver to an EHR that hangs. Write-back runs after the
response (a worker, or the in-process background pool of the embedded default), so the figures must not move.
"""

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
BENCH_ISS = "https://bench.stratify.invalid/cds-client"
OBSERVATIONS = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(port: int) -> None:
    os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    import django

    django.setup()


def _stay_resources() -> list[dict[str, Any]]:
    """A real stay cut to its last 500 Observations (plus its Patient and Encounters)."""
    from django.conf import settings

    from sandbox_ehr.fhir.loader.physionet import Stay, default_anchor, stay_resources, stays_select

    path = Path(settings.SHARED_DATA) / "physionet2019" / "physionet2019_training_setA.csv.gz"
    stay = max(stays_select(path, 2), key=lambda s: len(s.rows))
    for first in range(len(stay.rows) - 1, -1, -1):  # grow the window back from the last row
        resources = stay_resources(Stay(stay.patient, stay.septic, stay.rows[first:]), default_anchor())
        observations = [r for r in resources if r["resourceType"] == "Observation"]
        if len(observations) >= OBSERVATIONS:
            break
    observations = sorted(observations, key=lambda r: r["effectiveDateTime"])[-OBSERVATIONS:]
    return [r for r in resources if r["resourceType"] != "Observation"] + observations


def _prefetch(service_id: str) -> tuple[str, dict[str, Any]]:
    """(patient id, prefetch) answering each of the service's prefetch templates as an EHR would."""
    from cds_hooks.selectors import cds_services

    service = cds_services().get(service_id)
    if service is None:
        raise SystemExit(f"No service {service_id}: run `make demo` (or migrate + install_models) first.")
    resources = _stay_resources()
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    prefetch: dict[str, Any] = {}
    for tpl in service.templates:
        rtype, _, query = tpl.template.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if rtype.startswith("Patient/"):
            prefetch[tpl.key] = patient
            continue
        matches = [r for r in resources if r["resourceType"] == rtype and _matches(r, params)]
        # The EHR answers null when it has no data for a template (spec "Prefetch Template").
        entries = [{"resource": r, "search": {"mode": "match"}} for r in matches]
        prefetch[tpl.key] = (
            {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": entries}
            if matches
            else None
        )
    return patient["id"], prefetch


def _matches(resource: dict[str, Any], params: dict[str, str]) -> bool:
    if "category" in params:
        return any(
            c.get("code") == params["category"] for cat in resource.get("category", []) for c in cat.get("coding", [])
        )
    if "code" in params:
        codes = set(params["code"].split(","))
        return any(c.get("code") in codes for c in resource.get("code", {}).get("coding", []))
    return True


def _hung_server() -> str:
    """A loopback listener that accepts connections and never answers (a hung EHR); base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            held.append(listener.accept()[0])  # keep them open, say nothing

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def _client_key(fhir_servers: list[str]) -> Any:
    """A benchmark CDS client's key, trusted with the FHIR server it names (the allowlist)."""
    from joserfc.jwk import ECKey

    from cds_hooks.services.clients import trusted_client_upsert

    key = ECKey.generate_key("P-384", parameters={"kid": f"bench-{uuid.uuid4().hex[:8]}", "alg": "ES384"})
    trusted_client_upsert(
        iss=BENCH_ISS, jwks={"keys": [key.as_dict(private=False)]}, actor="benchmark", fhir_servers=fhir_servers
    )
    return key


def _tokens(key: Any, aud: str, count: int) -> list[str]:
    from joserfc import jwt

    now = int(time.time())
    return [
        jwt.encode(
            {"alg": "ES384", "kid": key.kid, "typ": "JWT"},
            {"iss": BENCH_ISS, "sub": "bench", "aud": aud, "iat": now, "exp": now + 600, "jti": str(uuid.uuid4())},
            key,
            algorithms=["ES384"],
        )
        for _ in range(count)
    ]


def _start_gunicorn(port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2")
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "config/gunicorn.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/cds-services")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("gunicorn did not start within 90 s")


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, token: str) -> float:
    t0 = time.perf_counter()
    conn.request(
        "POST", path, body=body, headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    )
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - t0
    if response.status != 200:
        raise SystemExit(f"POST {path} answered {response.status}: {payload[:500].decode(errors='replace')}")
    return elapsed


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _throughput(port: int, path: str, body: bytes, tokens: list[str], concurrency: int, seconds: float) -> float:
    done: list[int] = [0] * concurrency
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            with lock:
                token = tokens.pop()
            _post(conn, path, body, token)
            done[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def _load(avg: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in avg)


def main() -> None:
    """Start gunicorn, warm up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="stratify-sepsis")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--hung-write-target",
        action="store_true",
        help="send a fhirServer that accepts connections and never answers (write-back target)",
    )
    args = parser.parse_args()
    port = _free_port()
    _setup(port)
    import orjson

    patient_id, prefetch = _prefetch(args.service)
    path = f"/cds-services/{args.service}"
    request: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/bench", "patientId": patient_id},
        "prefetch": prefetch,
    }
    if args.hung_write_target:
        request |= {
            "fhirServer": f"{_hung_server()}/fhir",
            "fhirAuthorization": {
                "access_token": "bench",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.rs",
                "subject": "bench",
            },
        }
        print(f"write-back target {request['fhirServer']} accepts connections and never answers")
    body = orjson.dumps(request)
    key = _client_key([request["fhirServer"]] if args.hung_write_target else [])
    tokens = _tokens(key, f"http://127.0.0.1:{port}{path}", 50 + args.requests + int(400 * args.seconds))
    print(f"request body {len(body) / 1024:.0f} KiB, {OBSERVATIONS} Observations, service {args.service}")
    proc = _start_gunicorn(port)
    load_before = os.getloadavg()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(50):  # warm-up: model sessions, caches, connections
            _post(conn, path, body, tokens.pop())
        latencies = [_post(conn, path, body, tokens.pop()) * 1000 for _ in range(args.requests)]
        rps = _throughput(port, path, body, tokens, args.concurrency, args.seconds)
        load_after = os.getloadavg()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # e.g. in-process write-back threads still waiting on a hung EHR
            proc.kill()
            print("gunicorn did not stop within 30 s of SIGTERM (killed)")
    print(f"load average (1/5/15 min) before {_load(load_before)}, after {_load(load_after)} on {os.cpu_count()} CPUs")
    print(
        f"sequential: n={len(latencies)} p50={statistics.median(latencies):.1f} ms "
        f"p99={_pct(latencies, 0.99):.1f} ms mean={statistics.fmean(latencies):.1f} ms  (goal p50<=15, p99<=50)"
    )
    print(f"throughput: {rps:.0f} req/s with {args.concurrency} concurrent clients, 2 sync workers  (goal >=120)")


if __name__ == "__main__":
    main()
