"""The sandbox EHR on the live server with PhysioNet ICU stays, a device source bound to it, and event helpers."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core.management import call_command
from joserfc.jwk import ECKey

from cds_hooks.selectors import cds_catalogue_reset
from realtime.auth import device_sources_forget
from realtime.models import DeviceSource
from sandbox_ehr.fhir.loader import physionet
from smart_launch.models import EhrRegistration

PHYSIONET_A = Path(django_settings.SHARED_DATA) / "physionet2019" / "physionet2019_training_setA.csv.gz"


def ward_setup(live_server: Any, settings: Any, key: ECKey, *, load: bool = True) -> dict[str, Any]:
    """Models, the sandbox's clients, our registration of it, two PhysioNet stays loaded, a device source."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CDS_CALL_BUDGET_MS = 60_000
    for command in ("install_models", "sandbox_setup", "smart_demo_setup"):
        call_command(command, verbosity=0)
    if load:
        call_command("load_sandbox_data", "--physionet", "2", "--set", "A", "--no-synthea", verbosity=0)
    cds_catalogue_reset()
    registration = EhrRegistration.objects.get(iss=f"{live_server.url}/sandbox/fhir")
    device_sources_forget()
    source = DeviceSource.objects.create(
        name="icu-monitors", registration=registration, jwks={"keys": [key.as_dict(private=False)]}
    )
    stays = physionet.stays_select(PHYSIONET_A, 2)
    septic = next(s for s in stays if s.septic)
    return {
        "base": live_server.url,
        "iss": registration.iss,
        "registration": registration,
        "source": source,
        "stay": septic,
        "patient": physionet.patient_fhir_id(septic.patient),
        "other": physionet.patient_fhir_id(next(s for s in stays if s is not septic).patient),
    }


def hr_event(
    ward: dict[str, Any], number: int, value: float, *, minutes_ago: float = 2, patient: str = "patient"
) -> dict[str, Any]:
    """A device heart rate of the ward's septic patient (`patient="other"`: of its other patient; synthetic value)
    `minutes_ago` before now."""
    return {
        "source": "icu-monitors",
        "source_event_id": f"hr-{number}" if patient == "patient" else f"hr-{patient}-{number}",
        "device_id": "bed-4",
        "registration_id": ward["registration"].pk,
        "patient": f"Patient/{ward[patient]}",
        "event_time": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        "code": "8867-4",
        "value": value,
        "unit": "/min",
    }
