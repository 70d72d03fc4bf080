"""Shared pieces of the rule scores: banded point tables and the result type."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import SupportsFloat

import numpy as np
import numpy.typing as npt

from scoring.types import Band


@dataclass(frozen=True, slots=True)
class PointBand:
    """Points given to values up to and including `upper` (and above the previous band's upper)."""

    upper: float
    points: int


def points_for(value: float, table: Sequence[PointBand]) -> int:
    """Points of one value from an ascending band table (last band's `upper` is +inf)."""
    for band in table:
        if value <= band.upper:
            return band.points
    raise ValueError(f"value {value} is above the last band")


def points_for_array(values: npt.NDArray[np.float64], table: Sequence[PointBand]) -> npt.NDArray[np.float64]:
    """Vectorised `points_for`; NaN stays NaN (missing is never scored as normal)."""
    conditions = []
    previous = -math.inf
    for band in table:
        conditions.append((values > previous) & (values <= band.upper))
        previous = band.upper
    out = np.select(conditions, [float(b.points) for b in table], default=np.nan)
    return np.where(np.isnan(values), np.nan, out)


@dataclass(frozen=True, slots=True)
class ParameterPoints:
    """One physiological parameter, its value and the points it scored."""

    key: str
    label: str
    value: float | str | bool | None
    unit: str
    points: int


@dataclass(frozen=True, slots=True)
class RuleScore:
    """A rule score or a refusal.

    `missing`: required parameters that were absent, so nothing was scored (`points` is None).
    `not_recorded`: optional parameters that were absent; they were scored 0, so `points` is a lower
    bound (`lower_bound` True) and `notes` says by how much the true score could be higher.
    """

    name: str
    points: int | None
    band: Band | None
    parameters: tuple[ParameterPoints, ...] = ()
    missing: tuple[str, ...] = ()
    not_recorded: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def scored(self) -> bool:
        """True when every required parameter was present."""
        return self.points is not None

    @property
    def lower_bound(self) -> bool:
        """True when optional parameters were not recorded (the true score may be higher)."""
        return bool(self.not_recorded)


def is_missing(value: object) -> bool:
    """None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: object) -> float:
    """A rule input as a float: Python and numpy numbers (the vectorised training path passes numpy scalars). The
    usual float is taken first: the protocol check costs tens of microseconds, and a rescore reads a dozen inputs."""
    if type(value) is float or isinstance(value, SupportsFloat):
        return float(value)
    raise TypeError(f"a rule input must be a number, not {type(value).__name__}")
