"""A site's labelled ICU stays as adaptation reads them, whatever layout they came in: hourly feature rows with labels
(`Prepared`), one content digest per stay, and what they were read from.

Both site layouts (`site_physionet`, `site_fhir`) produce a `Site`; everything after reading (the split by patient,
the refusals, the methods, the card) works on it alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from scoring.training.sepsis import Prepared, _subset

# A stay's content cells that are not observations (`what` below 0): its length in hours, sex and whole years of age.
LENGTH_SEX, LENGTH_AGE = -1, -2


@dataclass(frozen=True)
class Stays:
    """Hourly rows of labelled stays and one content digest per stay.

    `rows.patients` names each row's stay (the unit of labels and of the utility score); `rows.frame["patient_id"]`
    its patient, the unit every split is made by (the same as the stay in the PhysioNet layout, one stay each).
    """

    rows: Prepared
    prints: pd.Series  # stay -> digest of its content (`content_digests`)

    def take(self, mask: npt.NDArray[np.bool_]) -> Stays:
        """The rows under `mask` (whole stays), with their stays' digests."""
        rows = _subset(self.rows, mask)
        return Stays(rows, self.prints[self.prints.index.isin(pd.unique(rows.patients))])

    def patients(self) -> pd.Series:
        """Each row's patient."""
        return self.rows.frame["patient_id"]

    def counts(self) -> dict[str, int]:
        """Stays, septic stays, patients and hourly rows (the card's counts)."""
        return {
            "stays": int(pd.unique(self.rows.patients).size),
            "septic_stays": septic_stays(self.rows),
            "patients": int(self.patients().nunique()),
            "rows": len(self.rows.y),
        }


@dataclass(frozen=True)
class Site:
    """A site's stays as read, and what they were read from: `facts` is the card's account of the source (digest,
    export time, layout, dates, where the labels came from, what was set aside and why)."""

    stays: Stays
    files: tuple[str, ...]
    file_sha256: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)


def septic_stays(rows: Prepared) -> int:
    """Stays with a positive label."""
    return int(pd.Series(rows.y).groupby(rows.patients).max().sum()) if len(rows.y) else 0


def content_digests(observations: pd.DataFrame, stays: pd.DataFrame) -> pd.Series:
    """One 64-bit digest per stay of its content, not its id, so the same stay has the same digest under another id
    and in either layout: the sum (modulo 2**64) of a hash of each (hours, what, value) cell.

    `observations` (columns stay, hours, column, value): every observation in the stay, at its hours since the stay's
    start (PhysioNet's ICULOS), `column` the position of its PhysioNet column. `stays` (columns stay, length, sex,
    age): each stay's length in hours, sex (1 male, 0 female) and age, whole years of which are a cell (a FHIR
    birthDate is a date, so the age in years differs in its decimals from the PhysioNet Age it was written from).
    """
    length = stays["length"].to_numpy(np.float64)
    whole_years = np.floor(stays["age"].to_numpy(np.float64))
    cells = pd.DataFrame(
        {
            "stay": np.concatenate(
                [observations["stay"].to_numpy(), stays["stay"].to_numpy(), stays["stay"].to_numpy()]
            ),
            "hours": np.concatenate([observations["hours"].to_numpy(np.float64), length, length]),
            "what": np.concatenate(
                [
                    observations["column"].to_numpy(np.int64),
                    np.full(len(stays), LENGTH_SEX),
                    np.full(len(stays), LENGTH_AGE),
                ]
            ),
            "value": np.concatenate(
                [observations["value"].to_numpy(np.float64), stays["sex"].to_numpy(np.float64), whole_years]
            ),
        }
    )
    hashed = pd.util.hash_pandas_object(cells[["hours", "what", "value"]], index=False).to_numpy(np.uint64)
    return pd.Series(hashed).groupby(cells["stay"].to_numpy()).sum()  # wraps modulo 2**64 (intended)
