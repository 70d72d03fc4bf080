"""Server-rendered SVG charts of the dashboard: counts turned into bar geometry (the template draws it).

No script and no inline style (the CSP admits neither): bars carry a CSS class per band, sizes are SVG
attributes. Pure functions, no Django.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, AXIS = 640, 220, 28  # viewBox, and the room left under the bars for labels
BAND_ORDER = ("high", "moderate", "low", "")  # stacked bottom-up in this order; "" = not scored


@dataclass(frozen=True, slots=True)
class Bar:
    """One rectangle: where, its class (band colour) and its hover text."""

    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True, slots=True)
class Label:
    """A label under a group of bars."""

    x: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    """What the template draws: a viewBox, bars and labels."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]
    empty: bool


def histogram(bins: Sequence[tuple[str, int]], css: str = "bar") -> Chart:
    """One bar per bin, heights relative to the largest."""
    return stacked([(label, {css: count}) for label, count in bins], order=(css,))


def stacked(groups: Sequence[tuple[str, Mapping[str, int]]], order: Sequence[str] = BAND_ORDER) -> Chart:
    """One column per group, its parts stacked in `order` (e.g. band counts per unit or per run)."""
    top = max((sum(parts.values()) for _, parts in groups), default=0)
    slot = WIDTH / max(1, len(groups))
    scale = (HEIGHT - AXIS) / top if top else 0.0
    bars: list[Bar] = []
    for i, (label, parts) in enumerate(groups):
        y = float(HEIGHT - AXIS)
        for key in order:
            count = parts.get(key, 0)
            if count:
                y -= count * scale
                bars.append(
                    Bar(i * slot + slot * 0.15, y, slot * 0.7, count * scale, _css(key), _title(label, key, count))
                )
    labels = tuple(Label(i * slot + slot / 2, label or "no unit") for i, (label, _) in enumerate(groups))
    return Chart(WIDTH, HEIGHT, tuple(bars), labels, empty=top == 0)


def _css(key: str) -> str:
    return f"band-{key}" if key in BAND_ORDER[:3] else ("band-none" if key == "" else key)


def _title(label: str, key: str, count: int) -> str:
    what = key if key in BAND_ORDER[:3] else "not scored" if key == "" else "patients"
    return f"{label or 'no unit'}: {count} {what}"
