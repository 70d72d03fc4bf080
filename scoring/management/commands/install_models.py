"""`manage.py install_models`: register the shipped sepsis/readmission artifacts and the rule scores (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from scoring.artifact import ARTIFACTS_DIR as SHIPPED
from scoring.catalogue import definitions
from scoring.models import ModelVersion
from scoring.services_registry import model_register, rule_register


class Command(BaseCommand):
    """Install what `make demo` needs: shipped ML artifacts (latest version of each) and NEWS2/qSOFA."""

    help = "Register the shipped model artifacts under scoring/artifacts and the NEWS2/qSOFA rule scores."
    # It is the command that repairs a registry whose active version no longer loads (e.g. after a feature-spec
    # upgrade), so it must run even while `manage.py check` reports that version (scoring.E001).
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:

        for model in (m for m in definitions() if m.kind == "rule"):
            mv = rule_register(name=model.name, registered_by="install_models")
            self.stdout.write(f"  {mv.name} {mv.version}: {mv.status}")
        for model_dir in sorted(p for p in SHIPPED.iterdir() if p.is_dir()) if SHIPPED.is_dir() else []:
            versions = sorted((p for p in model_dir.iterdir() if (p / "card.json").is_file()), key=_version_key)
            if not versions:
                continue
            folder = versions[-1]
            rel = folder.relative_to(Path(settings.BASE_DIR))
            existing = ModelVersion.objects.filter(name=model_dir.name, version=folder.name).first()
            # A fresh install activates the shipped version; an existing one keeps the status an admin chose.
            status = existing.status if existing else ModelVersion.Status.ACTIVE
            mv = model_register(artifact_dir=str(rel), registered_by="install_models", status=status)
            self.stdout.write(f"  {mv.name} {mv.version}: {mv.status} (sha256 {mv.sha256[:12]})")
        self.stdout.write(self.style.SUCCESS("models installed"))


def _version_key(folder: Path) -> tuple[tuple[int, ...], str]:
    """Numeric order of "1.10.0"-style folder names (non-numeric names sort first, by name)."""
    parts = folder.name.split(".")
    return (tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (), folder.name)
