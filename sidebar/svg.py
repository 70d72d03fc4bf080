"""Server-side inline SVG for the sidebar (trend line, driver bars): no JavaScript, no chart CDN.

Every text that reaches the markup is escaped; numbers are formatted by us.
"""

from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from scoring.types import probability_text

WIDTH, HEIGHT = 300, 84
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 34, 8, 8, 18
RAISES, LOWERS, GRID, LINE, MUTED = "#b00020", "#0b5cad", "#d0d7de", "#0d2a4a", "#4a5360"


def _fmt(value: float, kind: str) -> str:
    """An axis label: 0%, 5%, 10% (or rule points)."""
    return f"{value * 100:.0f}%" if kind == "ml" else f"{value:g}"


def _value(value: float, kind: str) -> str:
    """A scored value as the panel states it: "<1%", never "0%" (or rule points)."""
    return probability_text(value) if kind == "ml" else f"{value:g}"


def _y_max(values: list[float], kind: str) -> float:
    top = max(values, default=0.0)
    if kind == "ml":
        for ceiling in (0.1, 0.25, 0.5, 1.0):
            if top <= ceiling:
                return ceiling
        return 1.0
    ceiling = max(2, int(top) + 1)
    return float(ceiling + ceiling % 2)  # even, so the middle grid line is a whole number of points


def trend_svg(points: list[tuple[datetime, float | None]], *, kind: str, title: str) -> SafeString:
    """A small line chart of the score over time; unscored times are marked on the axis."""
    scored = [(t, v) for t, v in points if v is not None]
    if len(points) < 2:
        return mark_safe("")
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 1.0)
    y_max = _y_max([v for _, v in scored], kind)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(t: datetime) -> float:
        return PAD_LEFT + plot_w * (t - t0).total_seconds() / span

    def y(v: float) -> float:
        return PAD_TOP + plot_h * (1 - min(v, y_max) / y_max)

    hours = span / 3600
    summary = f"{title} over the last {hours:.0f} hours: " + (
        f"from {_value(scored[0][1], kind)} to {_value(scored[-1][1], kind)}." if scored else "not scored at any time."
    )
    parts = [
        f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(summary)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(summary)}</title>'
    ]
    for frac in (0.0, 0.5, 1.0):
        gy = PAD_TOP + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{gy:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{gy:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{PAD_LEFT - 4}" y="{gy + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="{MUTED}">{_fmt(y_max * frac, kind)}</text>'
        )
    segment: list[str] = []
    for t, v in points:
        if v is None:
            if len(segment) > 1:
                parts.append(_polyline(segment))
            segment = []
            parts.append(
                f'<text x="{x(t):.1f}" y="{PAD_TOP + plot_h + 1:.1f}" text-anchor="middle" '
                f'font-size="9" fill="{MUTED}">×<title>not scored at {t:%H:%M}</title></text>'
            )
            continue
        segment.append(f"{x(t):.1f},{y(v):.1f}")
        parts.append(
            f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" fill="{LINE}">'
            f"<title>{t:%d %b %H:%M}: {escape(_value(v, kind))}</title></circle>"
        )
    if len(segment) > 1:
        parts.append(_polyline(segment))
    base = HEIGHT - 4
    parts.append(f'<text x="{PAD_LEFT}" y="{base}" font-size="10" fill="{MUTED}">−{hours:.0f} h</text>')
    parts.append(
        f'<text x="{WIDTH - PAD_RIGHT}" y="{base}" text-anchor="end" font-size="10" fill="{MUTED}">now</text></svg>'
    )
    return mark_safe("".join(parts))  # noqa: S308  (all text escaped above)


def _polyline(points: list[str]) -> str:
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE}" stroke-width="2"/>'


def driver_bar_svg(contribution: float, largest: float, *, direction: str) -> SafeString:
    """A horizontal bar whose length is the driver's share of the largest contribution."""
    width = 120
    length = 0.0 if largest <= 0 else max(2.0, width * abs(contribution) / largest)
    colour = RAISES if direction == "raises" else LOWERS
    return mark_safe(  # noqa: S308  (numbers and fixed strings only)
        f'<svg class="bar" viewBox="0 0 {width} 10" width="{width}" height="10" aria-hidden="true" '
        f'xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="{width}" height="10" fill="#eef1f4"/>'
        f'<rect x="0" y="0" width="{length:.1f}" height="10" fill="{colour}"/></svg>'
    )
