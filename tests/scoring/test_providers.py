"""Execution-provider choice: CUDA first only when onnxruntime offers it and a device and runtime exist."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from scoring.serving import providers as p


@pytest.fixture
def fresh() -> Iterator[None]:
    p.providers.cache_clear()
    yield
    p.providers.cache_clear()


def _host(monkeypatch: pytest.MonkeyPatch, *, offered: bool, device: bool, runtime: bool) -> None:
    offer = [p.CUDA, p.CPU] if offered else [p.CPU]
    monkeypatch.setattr(ort, "get_available_providers", lambda: offer)
    monkeypatch.setattr(p, "_nvidia_device_present", lambda: device)
    monkeypatch.setattr(p, "_cuda_runtime_loadable", lambda: runtime)
    monkeypatch.delenv("STRATIFY_ORT_PROVIDER", raising=False)


@pytest.mark.usefixtures("fresh")
class ProviderChoiceTests:
    def test_cuda_first_with_cpu_fallback_when_everything_is_present(self, monkeypatch: pytest.MonkeyPatch) -> None:
        _host(monkeypatch, offered=True, device=True, runtime=True)
        assert p.providers() == (p.CUDA, p.CPU)

    @pytest.mark.parametrize("missing", ["offered", "device", "runtime"])
    def test_cpu_only_when_any_part_of_cuda_is_missing(self, monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
        _host(monkeypatch, **{k: k != missing for k in ("offered", "device", "runtime")})
        assert p.providers() == (p.CPU,)

    def test_environment_forces_the_cpu(self, monkeypatch: pytest.MonkeyPatch) -> None:
        _host(monkeypatch, offered=True, device=True, runtime=True)
        monkeypatch.setenv("STRATIFY_ORT_PROVIDER", "CPU")
        assert p.providers() == (p.CPU,)

    def test_this_host_without_an_nvidia_device_runs_on_the_cpu(self, monkeypatch: pytest.MonkeyPatch) -> None:
        if Path("/dev/nvidia0").exists():
            pytest.skip("this host has an NVIDIA device: benchmarks/gpu_check.py covers it")
        monkeypatch.delenv("STRATIFY_ORT_PROVIDER", raising=False)
        assert not p._nvidia_device_present() or not p._cuda_runtime_loadable()
        assert p.providers() == (p.CPU,)


@pytest.mark.django_db
class ReportedProviderTests:
    def test_a_session_that_fell_back_reports_the_cpu_not_what_was_asked(
        self, registered: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Asking for CUDA where it cannot load must not make /readyz or the card claim CUDA."""
        from scoring.readiness import registry_status
        from scoring.serving import registry

        if Path("/dev/nvidia0").exists():
            pytest.skip("this host has an NVIDIA device: the session would really run on CUDA")
        monkeypatch.setattr(registry, "providers", lambda: (p.CUDA, p.CPU))
        registry.cache_clear()
        try:
            sepsis = next(m for m in registry_status()["models"] if m["name"] == "sepsis")
        finally:
            registry.cache_clear()
        assert sepsis["ready"] and sepsis["provider"] == p.CPU
