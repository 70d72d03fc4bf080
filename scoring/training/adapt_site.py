"""`adapt_model`'s pipeline: read and check a site's stays (either layout, `scoring.training.site.site_read`: the
same prepared rows), split them by patient, adapt the base version by one method, compare it with the original on
the held-out site patients, and build the new version's card, which states exactly what local data it saw (layout,
files, digest, dates, labels, stays and septic stays per half, what was set aside, method, seed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.errors import ValidationFailed
from scoring.artifact import RELIABILITY_PNG
from scoring.training.adapt import (
    DESCRIPTIONS,
    Adapted,
    Base,
    adapt_fit,
    compare,
    events_check,
    halves,
    stays_take,
)
from scoring.training.common import SEED, now_iso
from scoring.training.sepsis import Prepared, _subset, prepare_frame, set_a_masks
from scoring.training.site import (
    MIN_SEPTIC_STAYS,
    base_load,
    duplicates_check,
    leakage_check,
    site_read,
    training_overlap_check,
    training_path,
)
from scoring.training.stays import Site, Stays

LISTED_FILES = 100


@dataclass(frozen=True)
class Request:
    """What to adapt, how, and on which data."""

    base_folder: Path
    data: Path
    method: str
    stays: int | None = None
    seed: int = SEED
    min_events: int = MIN_SEPTIC_STAYS
    validate_data: Path | None = None


def adapt_site(request: Request, out_dir: Path) -> dict[str, Any]:
    """The card payload of the adapted version (artifacts written by `publish`); nothing is written on error."""
    card, booster = base_load(request.base_folder)
    base = Base.of(card, booster)
    site, adapt_half, validate, validation_source = _split(request, card)
    used = stays_take(adapt_half, request.stays, request.seed)
    events_check(used.rows, validate.rows, request.min_events)
    training = _training(card) if request.method == "refit" else None
    adapted = adapt_fit(request.method, base, used.rows, training, request.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"Sepsis: {site.files[0]}, {request.method} (held-out half)"
    result = compare(base, adapted, validate.rows, out_dir / RELIABILITY_PNG, title)
    seen = _seen(request, site, adapt_half, used, validate, validation_source, adapted)
    return _card(card, adapted, result, seen, used.rows, validate.rows)


def _split(request: Request, card: dict[str, Any]) -> tuple[Site, Stays, Stays, str]:
    """(site, adaptation stays, validation stays, where the validation stays come from), every refusal checked."""
    if request.method == "refit" and training_path(card) is None:
        raise ValidationFailed(
            "refit pools the site's stays with the model's training set, which is not available here "
            "(its file is missing from the shared data or differs from the card's checksum)."
        )
    site = _checked(request.data, card)
    if request.validate_data is None:
        adapt, validate = halves(site.stays, request.seed)
        source = f"half of the site's stays, split by patient (stratified by outcome, seed {request.seed})"
    else:
        other = _checked(request.validate_data, card)
        adapt, validate = site.stays, other.stays
        source = f"{', '.join(other.files)} (sha256 {other.facts['sha256']})"
    leakage_check(adapt, validate)
    return site, adapt, validate, source


def _checked(path: Path, card: dict[str, Any]) -> Site:
    """A site read, refused when it holds the model's training stays or one stay twice."""
    site = site_read(path)
    training_overlap_check(site, card)
    duplicates_check(site.stays)
    return site


def _training(card: dict[str, Any]) -> Prepared:
    """Set A's training split (as the base version's card describes it), features built."""
    from scoring.training.data import physionet_read

    path = training_path(card)
    assert path is not None  # _split refused a refit without it
    set_a = prepare_frame(physionet_read(path)[0])
    return _subset(set_a, set_a_masks(set_a)["train"])


def _seen(
    request: Request,
    site: Site,
    adapt_half: Stays,
    used: Stays,
    validate: Stays,
    validation_source: str,
    adapted: Adapted,
) -> dict[str, Any]:
    """The card's account of the local data: what the adaptation saw and what only measured it."""
    return {
        "method": request.method,
        "method_description": DESCRIPTIONS[request.method],
        "adapted_at": now_iso(),
        "site_data": {"files": list(site.files), **_file_digests(site), **site.facts, **site.stays.counts()},
        "adaptation_half": adapt_half.counts(),
        "used_for_adaptation": {**used.counts(), "requested_stays": request.stays},
        "validation": {**validate.counts(), "source": validation_source, "seen_by_adaptation": False},
        "seed": request.seed,
        "min_septic_stays": request.min_events,
        **adapted.detail,
    }


def _file_digests(site: Site) -> dict[str, Any]:
    """Each file's sha256, for a site of at most LISTED_FILES files (a folder of more, e.g. one .psv file per stay:
    their combined digest, `sha256`, only)."""
    return (
        {"file_sha256": dict(zip(site.files, site.file_sha256, strict=True))} if len(site.files) <= LISTED_FILES else {}
    )


def _card(
    card: dict[str, Any],
    adapted: Adapted,
    result: dict[str, dict[str, Any]],
    seen: dict[str, Any],
    adapt: Prepared,
    validate: Prepared,
) -> dict[str, Any]:
    dropped = ("sha256", "artifacts", "version", "booster_sha256", "recalibration", "adaptation")
    training = dict(card["training_data"])
    training["sha256"] = {**training["sha256"], "site": seen["site_data"]["sha256"]}
    if seen["method"] == "refit":
        training["files"] = [training["files"][0], *seen["site_data"]["files"]]
        training["split"] = (
            f"{training['split']}; pooled with the site's adaptation stays ({seen['method_description']})"
        )
    used = seen["used_for_adaptation"]
    return {
        **{k: v for k, v in card.items() if k not in dropped},
        "created_at": seen["adapted_at"],
        "trees": adapted.booster.num_boosted_rounds(),
        "calibration": adapted.calibration.stored(),
        "thresholds": adapted.thresholds,
        "training_data": training,
        "adaptation": {**seen, "base_version": card.get("version"), "base_sha256": card.get("sha256")},
        "metrics": {
            "external_site_heldout": result["adapted"],
            "original_site_heldout": result["original"],
            **{f"training_{k}": v for k, v in card["metrics"].items() if not k.startswith("training_")},
        },
        "limitations": f"{card.get('limitations', '')} Adapted to {', '.join(seen['site_data']['files'])} by "
        f"{seen['method']} on {used['stays']} of its stays ({used['septic_stays']} septic); measured on "
        f"{seen['validation']['stays']} other stays of that site that the adaptation never saw. Its probabilities, "
        "bands and thresholds are fitted to that site.",
        "_booster": adapted.booster,
        "_check_rows": validate.x[:2000],
        "_reference_rows": adapt.x,
        "_reference_rows_from": f"{seen['site_data']['files'][0]}: the site's adaptation stays",
    }
