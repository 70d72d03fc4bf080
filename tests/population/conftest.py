"""Fixtures of population tests: the sandbox EHR on the live server with ICU stays, Groups and a cohort."""

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from cds_hooks.selectors import cds_catalogue_reset
from population.models import Cohort
from smart_launch.models import EhrRegistration

MODELS = ["sepsis", "news2", "qsofa"]


@pytest.fixture
def ehr(live_server: Any, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The sandbox EHR on the live server with 4 PhysioNet ICU stays and the demo Groups; a cohort of the ICU."""
    settings.PUBLIC_BASE_URL = live_server.url
    folders = {
        "SANDBOX_BULK_DIR": str(tmp_path / "sandbox-bulk"),
        "POPULATION_DIR": str(tmp_path / "population"),
        "SANDBOX_BULK_RETRY_AFTER": "0",
    }
    for name, value in folders.items():  # the environment too: a real worker started after this reads it
        setattr(settings, name, int(value) if value.isdigit() else value)
        monkeypatch.setenv(name, value)
    settings.CDS_CALL_BUDGET_MS = 60_000
    for command in ("install_models", "sandbox_setup", "smart_demo_setup"):
        call_command(command, verbosity=0)
    call_command("load_sandbox_data", "--physionet", "4", "--set", "A", "--no-synthea", verbosity=0)
    call_command("sandbox_groups", verbosity=0)
    cds_catalogue_reset()
    iss = f"{live_server.url}/sandbox/fhir"
    cohort = Cohort.objects.create(
        slug="icu",
        title="ICU",
        registration=EhrRegistration.objects.get(iss=iss),
        group_id="icu",
        model_names=MODELS,
        chunk_size=3,
    )
    return {"iss": iss, "cohort": cohort, "base": live_server.url}


def group_client(group: str | None, *, csrf: bool = False) -> Client:
    """A test client logged in as a new member of the governance `group` (None: not logged in)."""
    call_command("governance_setup", verbosity=0)
    client = Client(enforce_csrf_checks=csrf)
    if group is not None:
        user = User.objects.create_user(f"user-{group}-{User.objects.count()}", password="x-unused")
        user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
    return client
