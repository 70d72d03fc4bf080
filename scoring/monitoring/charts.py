"""Server-rendered SVG charts of the monitoring page: PSI heatmap over time, score distribution vs reference.

Pure functions from stored numbers to SVG text; every label is escaped, so the page may include the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from scoring.monitoring.drift import PSI_MAJOR, PSI_MODERATE

CELL_W, CELL_H, LABEL_W, HEAD_H = 22, 16, 190, 70
BAR_W, BAR_H = 36, 160


def psi_colour(value: float | None) -> str:
    """Grey when not tested; green, amber, red by the PSI convention (below 0.1, to 0.25, above)."""
    if value is None:
        return "#dddddd"
    return "#c0392b" if value >= PSI_MAJOR else "#e6a23c" if value >= PSI_MODERATE else "#67a96b"


def heatmap_svg(runs: Sequence[Any], columns: Sequence[str]) -> str:
    """One row per column, one cell per run (oldest left), coloured by that run's PSI of the column."""
    width, height = LABEL_W + CELL_W * len(runs) + 10, HEAD_H + CELL_H * len(columns) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'aria-label="PSI of each column per monitoring run" font-size="10" font-family="sans-serif">'
    ]
    for j, run in enumerate(runs):
        x = LABEL_W + j * CELL_W + CELL_W // 2
        parts.append(
            f'<text transform="translate({x},{HEAD_H - 4}) rotate(-60)">'
            f"{escape(run.created_at.strftime('%m-%d %H:%M'))}</text>"
        )
    for i, name in enumerate(columns):
        y = HEAD_H + i * CELL_H
        parts.append(f'<text x="{LABEL_W - 4}" y="{y + 12}" text-anchor="end">{escape(name)}</text>')
        for j, run in enumerate(runs):
            value = (run.results.get(name) or {}).get("psi")
            tip = "not tested" if value is None else f"PSI {value:.3f}"
            parts.append(
                f'<rect x="{LABEL_W + j * CELL_W}" y="{y}" width="{CELL_W - 2}" height="{CELL_H - 2}" '
                f'fill="{psi_colour(value)}"><title>{escape(name)}: {tip}</title></rect>'
            )
    parts.append("</svg>")
    return "".join(parts)


def shares_svg(reference: Sequence[float], current: Sequence[float], edges: Sequence[float]) -> str:
    """Paired bars per reference bin: reference share (grey) and served share (blue)."""
    top = max([*reference, *current, 0.01])
    width = 40 + BAR_W * len(reference)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{BAR_H + 50}" '
        'aria-label="score distribution: reference (grey) and served (blue) per bin" font-size="9" '
        'font-family="sans-serif">'
    ]
    for k, (ref, cur) in enumerate(zip(reference, current, strict=True)):
        x = 30 + k * BAR_W
        for offset, share, colour in ((0, ref, "#999999"), (BAR_W // 2 - 2, cur, "#1f4e79")):
            h = BAR_H * share / top
            parts.append(
                f'<rect x="{x + offset}" y="{BAR_H - h + 10}" width="{BAR_W // 2 - 3}" height="{h}" '
                f'fill="{colour}"><title>{share:.1%}</title></rect>'
            )
        label = f"&gt;{edges[-1]:.3g}" if k == len(edges) else f"&#8804;{edges[k]:.3g}"
        parts.append(f'<text x="{x + BAR_W // 2 - 2}" y="{BAR_H + 24}" text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)
