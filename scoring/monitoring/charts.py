"""Server-rendered SVG charts of the monitoring page: PSI heatmap over time, score distribution vs reference,
calibration recent vs the card, subgroup AUROC with intervals, alert burden.

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


PLOT, PAD = 220, 40
MIN_BIN_ROWS = 10  # a reliability bin with fewer scores is left off the curve: its observed share is noise


def _axis_max(values: Sequence[float]) -> float:
    """The smallest of 0.1, 0.2, 0.5, 1 that holds every value (sepsis scores sit low; a 0-1 axis hides them)."""
    top = max([*values, 0.0])
    return next(v for v in (0.1, 0.2, 0.5, 1.0) if top <= v or v == 1.0)


def _curve(bins: Sequence[dict[str, Any]], scale: float, colour: str, label: str) -> str:
    points = [
        (PAD + PLOT * float(b["predicted"]) / scale, PAD + PLOT - PLOT * min(float(b["observed"]) / scale, 1.0), b)
        for b in bins
        if int(b["n"]) >= MIN_BIN_ROWS
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(label)}: predicted '
        f"{float(b['predicted']):.3f}, observed {float(b['observed']):.3f}, n {int(b['n'])}</title></circle>"
        for x, y, b in points
    )
    return f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>{dots}'


def calibration_svg(reference: Sequence[dict[str, Any]], recent: Sequence[dict[str, Any]], reference_label: str) -> str:
    """Observed against predicted per reliability bin: the card's (grey) and the latest run's (blue); the
    diagonal is perfect calibration."""
    shown = [b for b in (*reference, *recent) if int(b["n"]) >= MIN_BIN_ROWS]
    scale = _axis_max([float(b[k]) for b in shown for k in ("predicted", "observed")])
    size = PLOT + 2 * PAD
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{size}" height="{size}" font-size="10" '
        f'font-family="sans-serif" aria-label="calibration: {escape(reference_label)} (grey) and recent (blue)">'
        f'<rect x="{PAD}" y="{PAD}" width="{PLOT}" height="{PLOT}" fill="none" stroke="#cccccc"/>'
        f'<line x1="{PAD}" y1="{PAD + PLOT}" x2="{PAD + PLOT}" y2="{PAD}" stroke="#bbbbbb" stroke-dasharray="4 3"/>'
        f"{_curve(reference, scale, '#999999', reference_label)}{_curve(recent, scale, '#1f4e79', 'recent')}"
        f'<text x="{PAD + PLOT / 2}" y="{size - 8}" text-anchor="middle">predicted (0 to {scale:g})</text>'
        f'<text transform="translate(12,{PAD + PLOT / 2}) rotate(-90)" text-anchor="middle">observed</text></svg>'
    )


def intervals_svg(rows: Sequence[tuple[str, dict[str, Any], float | None]], low: float = 0.4) -> str:
    """One line per (name, {value, ci}, bound): the value as a dot, its 95 % interval as a bar, the bound as a
    red tick, on a low..1 axis (AUROC)."""
    width, row_h = LABEL_W + PLOT + 30, 22

    def x(v: float) -> float:
        return LABEL_W + PLOT * (min(max(v, low), 1.0) - low) / (1.0 - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{row_h * len(rows) + 30}" '
        'font-size="10" font-family="sans-serif" aria-label="AUROC per subgroup with 95% intervals">'
    ]
    for i, (name, metric, bound) in enumerate(rows):
        y, value, ci = 10 + i * row_h, metric.get("value"), metric.get("ci")
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + 4}" text-anchor="end">{escape(name)}</text>')
        if ci:
            parts.append(f'<line x1="{x(ci[0]):.1f}" y1="{y}" x2="{x(ci[1]):.1f}" y2="{y}" stroke="#1f4e79"/>')
        if value is not None:
            tip = f"{value:.3f}" + (f" (95% CI {ci[0]:.3f} to {ci[1]:.3f})" if ci else "")
            parts.append(f'<circle cx="{x(value):.1f}" cy="{y}" r="3.5" fill="#1f4e79"><title>{tip}</title></circle>')
        if bound is not None:
            parts.append(
                f'<line x1="{x(bound):.1f}" y1="{y - 6}" x2="{x(bound):.1f}" y2="{y + 6}" stroke="#c0392b">'
                f"<title>bound {bound:.3f}</title></line>"
            )
    axis_y = 10 + row_h * len(rows)
    for tick in _ticks(low):
        parts.append(f'<text x="{x(tick):.1f}" y="{axis_y + 8}" text-anchor="middle">{tick:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _ticks(low: float) -> list[float]:
    """Axis ticks every 0.1 from `low` to 1."""
    return [round(low + 0.1 * k, 1) for k in range(int(round((1.0 - low) / 0.1)) + 1)]


def burden_svg(runs: Sequence[Any]) -> str:
    """Alerts per 100 scored patients per performance run (oldest left), PPV in each bar's tooltip."""
    values = [((r.results.get("alerts") or {}).get("alerts_per_100") or 0.0, r) for r in runs]
    top = max([v for v, _ in values] + [1.0])
    width = LABEL_W // 2 + BAR_W * len(values) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{BAR_H + 60}" font-size="9" '
        'font-family="sans-serif" aria-label="alerts per 100 scored patients per run">'
    ]
    for k, (value, run) in enumerate(values):
        alerts = run.results.get("alerts") or {}
        ppv = (alerts.get("ppv") or {}).get("value")
        h, x = BAR_H * value / top, LABEL_W // 2 + k * BAR_W
        tip = f"{value:.1f} alerts per 100 patients ({alerts.get('alerts', 0)} alerts)" + (
            f", PPV {ppv:.1%}" if ppv is not None else ", PPV not labelled yet"
        )
        parts.append(
            f'<rect x="{x}" y="{BAR_H - h + 10}" width="{BAR_W - 6}" height="{h:.1f}" fill="#1f4e79">'
            f"<title>{escape(tip)}</title></rect>"
            f'<text transform="translate({x + 10},{BAR_H + 16}) rotate(45)">'
            f"{escape(run.created_at.strftime('%m-%d %H:%M'))}</text>"
        )
    said = f"max {top:.1f} per 100" if any(v for v, _ in values) else "no alerts raised in these runs"
    parts.append(f'<text x="4" y="16">{said}</text></svg>')
    return "".join(parts)
