"""A FHIR site's sepsis onsets, read by the outcome definitions the performance monitor uses, and joined to its stays.

Outcomes name a patient, not a stay. An onset joins each of the patient's stays it falls in, from the stay's start
to 6 h after its end: the PhysioNet 2019 label (Reyna MA, et al. Crit Care Med 2020;48(2):210-217) is 1 from 6 h
before onset, so an onset in the 6 h after a stay marks the stay's last hours, as in the PhysioNet tables (13 of
set B's 1,142 septic stays end less than 6 h before their onset). An onset outside all of them is refused rather
than guessed at: before a stay (sepsis present on arrival, or an earlier episode) nothing says which of the stay's
hours came before it, and more than 6 h after the end it was not in the stay. A stay takes its first onset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from config.errors import ValidationFailed
from config.keys import pseudonymize
from scoring.catalogue.sepsis import SEPSIS
from scoring.monitoring.outcomes import OutcomeItem, outcomes_parse
from scoring.monitoring.outcomes_fhir import condition_outcomes
from scoring.training.ndjson import ndjson_lines
from scoring.training.site_fhir_rows import HORIZON

OUTCOMES_FILE = "outcomes.csv"
CONDITIONS_FILE = "Condition.ndjson"
SHOWN = 3


@dataclass(frozen=True)
class Window:
    """A stay as onsets join it: its Encounter's id, patient and period (no end while in progress)."""

    key: str
    patient: str
    start: datetime
    end: datetime | None

    def holds(self, onset: datetime) -> bool:
        """Whether `onset` is from the stay's start to 6 h after its end."""
        return self.start <= onset and (self.end is None or onset <= self.end + HORIZON)


@dataclass(frozen=True)
class Onset:
    """A sepsis onset of a patient, and where it was read (for messages)."""

    patient: str
    at: datetime
    where: str


@dataclass(frozen=True)
class OutcomeSource:
    """The file the labels come from, and the card's words for it."""

    path: Path
    labels: str

    @classmethod
    def of(cls, folder: Path) -> OutcomeSource:
        """outcomes.csv when the folder has one, else Condition.ndjson; neither is refused."""
        if (folder / OUTCOMES_FILE).is_file():
            return cls(folder / OUTCOMES_FILE, f"{OUTCOMES_FILE}: its rows of model sepsis, label 1 an onset")
        if (folder / CONDITIONS_FILE).is_file():
            code = SEPSIS.outcome.code
            return cls(
                folder / CONDITIONS_FILE,
                f"{CONDITIONS_FILE}: Conditions coded SNOMED CT {code} with an onset time, neither refuted nor "
                "entered in error",
            )
        raise ValidationFailed(
            f"{folder} holds no outcomes: add {OUTCOMES_FILE} (patient,model,label,time, as import_outcomes reads) "
            f"or the export's {CONDITIONS_FILE} with the sepsis Conditions."
        )

    def onsets(self, patients: Sequence[str]) -> list[Onset]:
        """Every sepsis onset of the source; an outcome of a patient not in the export is refused."""
        ids = {pseudonymize(p): p for p in patients}
        if self.path.name == OUTCOMES_FILE:
            return _file_onsets(self.path, ids)
        return _condition_onsets(self.path, ids)


def _file_onsets(path: Path, ids: Mapping[str, str]) -> list[Onset]:
    items = [i for i in _parsed(path) if i.model_name == SEPSIS.name]
    unknown = [i for i in items if i.pseudonym not in ids]
    if unknown:
        raise ValidationFailed(
            f"{path.name}: {len(unknown)} sepsis row(s) name a patient who is not in Patient.ndjson (first: the row "
            f"at {unknown[0].at.isoformat()}): every outcome must be about a patient of the export."
        )
    return [Onset(ids[i.pseudonym], i.at, f"{path.name}: the row at {i.at.isoformat()}") for i in items if i.occurred]


def _parsed(path: Path) -> list[OutcomeItem]:
    try:
        return outcomes_parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{path} cannot be read: {exc}") from exc
    except ValidationFailed as exc:
        rows = (exc.extra or {}).get("rows") or []
        shown = "; ".join(f"line {r['line']}: {r['error']}" for r in rows[:SHOWN])
        raise ValidationFailed(f"{path.name}: {exc.message}{' ' + shown if shown else ''}") from exc


def _condition_onsets(path: Path, ids: Mapping[str, str]) -> list[Onset]:
    onsets = []
    for where, condition, _line in ndjson_lines(path, "Condition"):
        for item in condition_outcomes(SEPSIS.name, path.as_uri(), [condition]):
            if item.pseudonym not in ids:
                raise ValidationFailed(
                    f"{where}: Condition/{condition.get('id')} is about a patient who is not in Patient.ndjson: "
                    "every outcome must be about a patient of the export."
                )
            onsets.append(Onset(ids[item.pseudonym], item.at, where))
    return onsets


def onsets_join(windows: Sequence[Window], onsets: Sequence[Onset]) -> dict[str, datetime]:
    """Each stay's first onset (stays without one are absent); an onset that joins no stay is refused."""
    theirs: dict[str, list[Window]] = {}
    for w in windows:
        theirs.setdefault(w.patient, []).append(w)
    first: dict[str, datetime] = {}
    for onset in onsets:
        joined = [w for w in theirs.get(onset.patient, []) if w.holds(onset.at)]
        if not joined:
            raise ValidationFailed(_outside(onset, theirs.get(onset.patient, [])))
        for w in joined:
            first[w.key] = min(first.get(w.key, onset.at), onset.at)
    return first


def _outside(onset: Onset, windows: Sequence[Window]) -> str:
    head = f"{onset.where}: the sepsis onset at {onset.at.isoformat()} of Patient/{onset.patient}"
    if not windows:
        return f"{head} joins no stay: the patient has no acute-care Encounter in Encounter.ndjson."
    periods = ", ".join(f"{w.start.isoformat()} to {w.end.isoformat() if w.end else 'now'}" for w in windows[:SHOWN])
    return (
        f"{head} lies outside each of their stays ({periods}). An onset joins a stay from its start to 6 h after its "
        "end (the PhysioNet 2019 label is 1 from 6 h before onset); before a stay (sepsis present on arrival, or an "
        "earlier episode) or later, the stay's hourly labels cannot be known. Correct its time or leave it out of "
        "the outcomes."
    )
