"""A site's own labelled ICU stays for adapting the sepsis model: reading them in either layout (the PhysioNet 2019
hourly tables, `site_physionet`; a FHIR Bulk Data export with its outcomes, `site_fhir`) into the same prepared rows,
and the checks that refuse data unfit for it (stays that are the model's own training stays, stays exported twice,
a stay in both halves).

Labels follow the PhysioNet 2019 definition (Reyna MA, et al. Crit Care Med 2020;48(2):210-217): SepsisLabel is
0 or 1 on every hour and, once 1 (6 h before Sepsis-3 onset), stays 1 to the end of the stay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from config.errors import ValidationFailed
from scoring.artifact import BOOSTER_NAME, CARD_JSON, sha256_file
from scoring.features.spec import SPEC_VERSION
from scoring.training.data import physionet_read, shared_data_dir
from scoring.training.site_fhir import fhir_site_read, is_fhir_site
from scoring.training.site_physionet import physionet_digests, physionet_site_read
from scoring.training.stays import Site, Stays

# Vergouwe Y, et al. Substantial effective sample sizes were required for external validation studies of
# predictive logistic regression models. J Clin Epidemiol 2005;58(5):475-483: at least 100 events (here: septic
# stays) to fit and to assess a logistic calibration.
MIN_SEPTIC_STAYS = 100


def base_load(folder: Path) -> tuple[dict[str, Any], Any]:
    """The base version's card and booster, checked: a sepsis model of this spec whose booster matches its card."""
    import xgboost as xgb

    try:
        card: dict[str, Any] = json.loads((folder / CARD_JSON).read_text())
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"{folder / CARD_JSON} cannot be read as a model card: {exc}") from exc
    if card.get("name") != "sepsis" or card.get("kind") != "ml":
        raise ValidationFailed(
            f"{folder} holds {card.get('name')!r}, not the sepsis model: only the sepsis model "
            "can be adapted to a site's stays here."
        )
    if card.get("spec_version") != SPEC_VERSION:
        raise ValidationFailed(
            f"{folder} was trained on feature spec {card.get('spec_version')}, this code serves {SPEC_VERSION}."
        )
    if sha256_file(folder / BOOSTER_NAME) != card.get("booster_sha256"):
        raise ValidationFailed(f"{folder / BOOSTER_NAME} does not match the checksum in its model card.")
    return card, xgb.Booster(model_file=str(folder / BOOSTER_NAME))


def site_read(path: Path) -> Site:
    """A site's labelled stays: a folder of FHIR NDJSON files with their outcomes (`site_fhir`), else PhysioNet-layout
    tables (`site_physionet`); either way, the same prepared rows."""
    return fhir_site_read(path) if is_fhir_site(path) else physionet_site_read(path)


def duplicates_check(stays: Stays) -> None:
    """Refuse stays exported twice under different ids: the copies could land in both halves (leakage)."""
    prints = stays.prints
    twice = prints[prints.duplicated(keep=False)]
    if len(twice):
        raise ValidationFailed(
            f"{len(twice)} stays are copies of one another ({', '.join(map(str, twice.index[:4]))}): one stay in "
            "both the adaptation and the validation half would leak; remove the copies."
        )


def leakage_check(adapt: Stays, validate: Stays) -> None:
    """No patient (by id) and no stay (by content) may be in both the adaptation and the validation data."""
    shared_ids = set(adapt.patients()) & set(validate.patients())
    shared_content = set(adapt.prints) & set(validate.prints)
    if shared_ids or shared_content:
        first = sorted(map(str, shared_ids))[:3]
        raise ValidationFailed(
            f"Leakage: {max(len(shared_ids), len(shared_content))} stay(s) are in both the adaptation and the "
            f"validation data{' (' + ', '.join(first) + ')' if first else ' (same values, other ids)'}; "
            "the validation half must be patients the adaptation never saw."
        )


def training_overlap_check(site: Site, card: dict[str, Any]) -> None:
    """Refuse the model's own training data as a 'site': by file digest, then by stay content (in either layout: a
    training stay written as FHIR has the digest it has in the training table)."""
    training = card.get("training_data") or {}
    if (training.get("sha256") or {}).get("A") in site.file_sha256:
        raise ValidationFailed(
            f"{', '.join(site.files)}: holds the model's training set ({card.get('name')} {card.get('version')}): "
            "a site's own stays must be new to the model."
        )
    path = training_path(card)
    if path is None:
        return
    seen = set(physionet_digests(physionet_read(path)[0]))
    found = site.stays.prints
    inside = found[found.isin(seen)]
    if len(inside):
        raise ValidationFailed(
            f"{len(inside)} of {len(found)} site stays are stays of the model's training set "
            f"({path.name}, e.g. {inside.index[0]}): a site's own stays must be new to the model."
        )


def training_path(card: dict[str, Any]) -> Path | None:
    """The base version's training file (set A) in the shared data, when present and unchanged."""
    files = (card.get("training_data") or {}).get("files") or []
    expected = ((card.get("training_data") or {}).get("sha256") or {}).get("A")
    if not files or not expected:
        return None
    path = shared_data_dir() / files[0]
    return path if path.is_file() and sha256_file(path) == expected else None
