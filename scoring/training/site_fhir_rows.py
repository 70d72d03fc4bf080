"""Hourly rows of a FHIR site's stays, built by the serving extractor, so an adapted model learns from exactly the
vectors it will be served.

A stay (an Encounter) gives one row per whole hour from its period.start: row k at start + k h, k = 1 .. floor(length
in hours) (the PhysioNet tables' ICULOS 1 is likewise an hour into the stay); `hour` is k. Each row is the catalogue's
sepsis extractor (`scoring.features.extract.extract_features` with the sepsis spec) at that time, for that Encounter,
on the model's declared share of the patient's resources (`scoring.features.select.model_share`), as the serving
doors score (`scoring.services`).

Serving selects the share at each as-of T (Observations within [T - L, T], L the requirement's look-back, the longest
any sepsis feature reads) and indexes it. Here the share is selected once per stay, over [start - L, end], and
indexed once (the share's index): the extractor reads only values at or before T and within each feature's
look-back (at most L), so each row equals serving's at T. That holds because every Observation of the site has an
effective time with a zone (`site_fhir` refuses others), which the selection and the index read alike;
tests/scoring/test_adapt_fhir.py compares the rows with serving's hour by hour.

Labels (PhysioNet 2019, Reyna MA, et al. Crit Care Med 2020;48(2):210-217): 1 from 6 h before the stay's onset to
its end, 0 throughout a stay without one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from scoring.catalogue.sepsis import SEPSIS
from scoring.features.fhir_index import ObservationIndex
from scoring.features.select import model_share, parsed_resources
from scoring.features.spec import PHYSIONET_OBSERVATIONS
from scoring.training.sepsis import HORIZON_HOURS, Prepared
from scoring.training.stays import Stays, content_digests

HOUR = timedelta(hours=1)
HORIZON = timedelta(hours=HORIZON_HOURS)
COLUMN_POSITION = {o.column: j for j, o in enumerate(PHYSIONET_OBSERVATIONS)}
NAMES = [f.name for f in SEPSIS.features]
AGE, SEX = NAMES.index("age_years"), NAMES.index("male")


@dataclass(frozen=True)
class FhirStay:
    """One stay: its Encounter's id (the stay's id), its patient, its period, and its first sepsis onset, if any."""

    key: str
    patient: str
    start: datetime
    end: datetime
    onset: datetime | None = None

    def hours(self) -> int:
        """Whole hours in the stay: its rows."""
        return int((self.end - self.start) // HOUR)


@dataclass
class _Parts:
    """The rows and content cells of the stays done so far."""

    x: list[npt.NDArray[np.float32]] = dataclasses.field(default_factory=list)
    y: list[npt.NDArray[np.int8]] = dataclasses.field(default_factory=list)
    stay: list[str] = dataclasses.field(default_factory=list)
    patient: list[str] = dataclasses.field(default_factory=list)
    hour: list[npt.NDArray[np.float64]] = dataclasses.field(default_factory=list)
    cells: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    facts: list[tuple[str, float, float, float]] = dataclasses.field(default_factory=list)


def fhir_stays(patients: Iterable[tuple[Sequence[Mapping[str, Any]], Sequence[FhirStay]]]) -> Stays:
    """Rows and content digests of each patient's stays, from (the patient's resources, their stays) pairs, taken one
    at a time; at least one stay, each at least an hour long."""
    parts = _Parts()
    for resources, stays in patients:
        for stay in stays:
            _stay_add(parts, resources, stay)
    return _stays(parts)


def _stay_add(parts: _Parts, resources: Sequence[Mapping[str, Any]], stay: FhirStay) -> None:
    share, index = stay_share(resources, stay)
    x = stay_matrix(share, index, stay)
    hours = np.arange(1, stay.hours() + 1, dtype=np.float64)
    parts.x.append(x)
    parts.y.append(stay_labels(stay, hours))
    parts.stay += [stay.key] * len(hours)
    parts.patient += [stay.patient] * len(hours)
    parts.hour.append(hours)
    parts.cells.append(_cells(index, stay))
    parts.facts.append((stay.key, float(len(hours)), float(x[0, SEX]), float(x[0, AGE])))


def stay_share(
    resources: Sequence[Mapping[str, Any]], stay: FhirStay
) -> tuple[Sequence[Mapping[str, Any]], ObservationIndex]:
    """The model's declared share of the patient's resources over the whole stay, and its Observation index."""
    requirements = SEPSIS.requirements
    whole_stay = dataclasses.replace(
        requirements, lookback_hours=(stay.end - stay.start) / HOUR + requirements.lookback_hours
    )
    share = model_share(parsed_resources(resources), whole_stay, stay.end)
    return share.resources, share.index


def stay_matrix(share: Sequence[Mapping[str, Any]], index: ObservationIndex, stay: FhirStay) -> npt.NDArray[np.float32]:
    """The serving extractor's vector at each row of the stay (rows k = 1 .. hours), for the stay's Encounter."""
    extractor = SEPSIS.extractor
    assert extractor is not None  # an ML model of the catalogue has one
    rows = [extractor(share, stay.start + k * HOUR, index, stay.key).values for k in range(1, stay.hours() + 1)]
    return np.array(rows, dtype=np.float32)


def stay_labels(stay: FhirStay, hours: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
    """1 at the rows from 6 h before the stay's onset on, else 0."""
    if stay.onset is None:
        return np.zeros(len(hours), dtype=np.int8)
    first = (stay.onset - HORIZON - stay.start) / HOUR
    return (hours >= first).astype(np.int8)


def _cells(index: ObservationIndex, stay: FhirStay) -> pd.DataFrame:
    """The stay's observations (from its start to its end) as `content_digests` cells."""
    start, end = stay.start.timestamp(), stay.end.timestamp()
    hours: list[float] = []
    columns: list[int] = []
    values: list[float] = []
    for column, series in index.series.items():
        for t, value in zip(series.times, series.values, strict=True):
            if start <= t <= end:
                hours.append((t - start) / HOUR.total_seconds())
                columns.append(COLUMN_POSITION[column])
                values.append(value)
    return pd.DataFrame({"stay": stay.key, "hours": hours, "column": columns, "value": values})


def _stays(parts: _Parts) -> Stays:
    x = np.concatenate(parts.x)
    stay = np.array(parts.stay, dtype=object)
    hour = np.concatenate(parts.hour)
    frame = pd.DataFrame(
        {
            "patient_id": np.array(parts.patient, dtype=object),
            "Age": x[:, AGE].astype(np.float64),
            "Gender": x[:, SEX].astype(np.float64),
            "hour": hour,
        }
    )
    rows = Prepared(x, np.concatenate(parts.y), stay, pd.factorize(stay)[0].astype(np.int64), hour, frame)
    facts = pd.DataFrame(parts.facts, columns=["stay", "length", "sex", "age"])
    return Stays(rows, content_digests(pd.concat(parts.cells, ignore_index=True), facts))
