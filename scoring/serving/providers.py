"""Choose onnxruntime execution providers: CUDA first only when it can really load, else CPU.

Asking for CUDAExecutionProvider on a machine without CUDA makes onnxruntime-gpu log a long library
load error; we avoid it by requiring a visible NVIDIA device and loadable CUDA runtime libraries first.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
CUDA_LIBRARIES = ("libcudart.so.13", "libcudart.so.12", "libcublas.so.13", "libcublas.so.12")


def _nvidia_device_present() -> bool:
    return Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia/version").exists()


def _cuda_runtime_loadable() -> bool:
    try:  # the [cuda,cudnn] extras ship the runtime as wheels; preload_dlls makes them visible
        import onnxruntime as ort

        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls(directory="")
    except Exception:  # noqa: S110 - best effort, the ctypes probe below decides
        pass
    for name in CUDA_LIBRARIES:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


@functools.cache
def providers() -> tuple[str, ...]:
    """Providers to request, best first (STRATIFY_ORT_PROVIDER=cpu forces the CPU)."""
    import onnxruntime as ort

    if os.environ.get("STRATIFY_ORT_PROVIDER", "").lower() == "cpu":
        return (CPU,)
    if CUDA in ort.get_available_providers() and _nvidia_device_present() and _cuda_runtime_loadable():
        return (CUDA, CPU)
    return (CPU,)
