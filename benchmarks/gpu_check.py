"""Prove the CUDA execution-provider path when a GPU exists (prints clearly when there is none).

Run: .venv/bin/python benchmarks/gpu_check.py
Loads the shipped sepsis ONNX model on the provider the registry chooses, checks that CUDA is really used
when available, compares its outputs with the CPU provider and times batch inference on both.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    import numpy as np
    import onnxruntime as ort

    from scoring.serving.providers import CPU, CUDA, providers

    print(f"onnxruntime {ort.__version__}; available providers: {ort.get_available_providers()}")
    chosen = providers()
    print(f"registry would request: {list(chosen)}")
    folder = sorted((ROOT / "scoring" / "artifacts" / "sepsis").iterdir())[-1]
    card = json.loads((folder / "card.json").read_text())
    data = (folder / "model.onnx").read_bytes()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50000, len(card["features"]))).astype(np.float32) * 10 + 50
    cpu = ort.InferenceSession(data, providers=[CPU])
    t0 = time.perf_counter()
    p_cpu = np.asarray(cpu.run(None, {"input": x})[1])[:, 1]
    print(f"CPU: {len(x)} rows in {time.perf_counter() - t0:.3f} s")
    if CUDA not in chosen:
        print("NO GPU: CUDA provider not available here (no NVIDIA device or CUDA runtime); serving runs on CPU.")
        return 0
    gpu = ort.InferenceSession(data, providers=list(chosen))
    used = gpu.get_providers()
    print(f"session providers: {used}")
    if used[0] != CUDA:
        print("FAIL: CUDA was requested but the session fell back to CPU")
        return 1
    gpu.run(None, {"input": x[:100]})
    t0 = time.perf_counter()
    p_gpu = np.asarray(gpu.run(None, {"input": x})[1])[:, 1]
    elapsed = time.perf_counter() - t0
    print(f"CUDA: {len(x)} rows in {elapsed:.3f} s; max |CUDA - CPU| = {np.abs(p_gpu - p_cpu).max():.2e}")
    ok = np.abs(p_gpu - p_cpu).max() < 1e-5
    print("OK: CUDA provider path works and matches CPU" if ok else "FAIL: CUDA and CPU outputs differ")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
