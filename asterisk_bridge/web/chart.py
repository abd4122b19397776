"""The hourly chart of ``/stats`` as inline SVG geometry (pure).

Only bars and grid lines are drawn in the SVG, in a fixed 24 x 100 coordinate box stretched to
the page width; the hour labels and the scale are HTML next to it, so they stay readable on a
phone and on a wall screen alike (text inside a stretched SVG would shrink or grow with it).
"""

from __future__ import annotations

from dataclasses import dataclass

HEIGHT = 100.0
BAR = 0.72  # share of an hour's slot a bar fills


@dataclass(frozen=True)
class Bar:
    hour: int
    series: int  # index into the chart's series (a line), for its colour
    calls: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    grid: list[tuple[int, float]]  # (calls, y) of the four guides, at a quarter of the height each
    top: int  # the value at the top of the box
    totals: list[int]  # calls per hour, all series

    @property
    def empty(self) -> bool:
        return not any(self.totals)


def nice_top(peak: int) -> int:
    """The smallest 4 x (1, 2 or 5 x 10^n) at or above ``peak``: four guides at round values."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if 4 * step * factor >= peak:
                return 4 * step * factor
        step *= 10


def hourly_chart(series: list[list[int]]) -> Chart:
    """Stacked bars, one stack per local hour, one segment per series (24 counts each)."""
    totals = [sum(s[hour] for s in series) for hour in range(24)]
    top = nice_top(max(totals, default=0))
    scale = HEIGHT / top
    bars = []
    for hour in range(24):
        base = HEIGHT
        for index, counts in enumerate(series):
            calls = counts[hour]
            if not calls:
                continue
            height = calls * scale
            base -= height
            bars.append(Bar(hour, index, calls, hour + (1 - BAR) / 2, round(base, 3), BAR, round(height, 3)))
    grid = [(top * k // 4, HEIGHT - HEIGHT * k / 4) for k in (1, 2, 3, 4)]
    return Chart(bars, grid, top, totals)
