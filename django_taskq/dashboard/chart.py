"""The overview's bar chart of jobs finished and failed per minute: the counts, read from our
workers' counters, and the SVG drawn server-side (no JavaScript).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..connections import ConnectionGroup, connection_groups
from ..counters import OUTCOMES, per_minute


def finished_failed_per_minute(
    minutes: int = 60, groups: list[ConnectionGroup] | None = None
) -> dict[str, list[int]]:
    """Jobs finished and failed per minute over every queue (of ``groups``), oldest first: one
    round trip per connection."""
    totals: dict[str, list[int]] = {outcome: [0] * minutes for outcome in OUTCOMES}
    for group in connection_groups() if groups is None else groups:
        for counts in per_minute(group.client, group.names, minutes=minutes).values():
            for outcome in OUTCOMES:
                for index, value in enumerate(counts[outcome]):
                    totals[outcome][index] += value
    return totals


@dataclass
class Bar:
    x: float
    width: float
    finished_y: float
    finished_height: float
    failed_y: float
    failed_height: float
    label: str


class Chart:
    """Jobs finished (bottom) and failed (stacked on top) per minute, oldest minute first."""

    width = 720
    height = 140
    top = 8
    bottom = 18  # room for the time labels
    left = 36  # room for the scale

    def __init__(self, finished: list[int], failed: list[int], now: datetime | None = None) -> None:
        self.finished = finished
        self.failed = failed
        self.minutes = len(finished)
        self.now = now or datetime.now(timezone.utc)
        peak = max((a + b for a, b in zip(finished, failed, strict=True)), default=0)
        self.scale = _nice_ceiling(peak)
        self.empty = peak == 0

    def svg(self) -> SafeString:
        return render_svg(self)

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> float:
        return self.top + self.plot_height

    @property
    def viewbox(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def bars(self) -> list[Bar]:
        slot = (self.width - self.left) / max(1, self.minutes)
        width = max(1.0, slot * 0.75)
        bars = []
        first = self.now.replace(second=0, microsecond=0) - timedelta(minutes=self.minutes - 1)
        for index, (done, failed) in enumerate(zip(self.finished, self.failed, strict=True)):
            done_height = self.plot_height * done / self.scale
            failed_height = self.plot_height * failed / self.scale
            minute = first + timedelta(minutes=index)
            bars.append(
                Bar(
                    x=round(self.left + index * slot + (slot - width) / 2, 2),
                    width=round(width, 2),
                    finished_y=round(self.baseline - done_height, 2),
                    finished_height=round(done_height, 2),
                    failed_y=round(self.baseline - done_height - failed_height, 2),
                    failed_height=round(failed_height, 2),
                    label=f"{minute:%H:%M} UTC: {done} finished, {failed} failed",
                )
            )
        return bars

    @property
    def gridlines(self) -> list[tuple[float, int]]:
        """(y, value) of the scale lines: zero, half and the top."""
        return [
            (round(self.baseline - self.plot_height * fraction, 2), round(self.scale * fraction))
            for fraction in (0, 0.5, 1)
        ]

    @property
    def time_labels(self) -> list[tuple[float, str, str]]:
        """(x, anchor, text) under the bars."""
        return [
            (self.left, "start", f"{self.minutes} min ago"),
            (self.left + (self.width - self.left) / 2, "middle", f"{self.minutes // 2} min ago"),
            (self.width, "end", "now"),
        ]


def render_svg(chart: Chart) -> SafeString:
    """The chart as inline SVG markup (built in Python: 60 bars are ~1000 template nodes)."""
    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="scale" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
        ((chart.left, chart.width, y, y, chart.left - 6, y, value) for y, value in chart.gridlines),
    )
    bars = format_html_join(
        "",
        '<g><title>{}</title><rect class="finished" x="{}" y="{}" width="{}" height="{}"/>'
        '<rect class="failed" x="{}" y="{}" width="{}" height="{}"/>'
        '<rect class="hover" x="{}" y="{}" width="{}" height="{}"/></g>',
        (
            (
                bar.label,
                bar.x,
                bar.finished_y,
                bar.width,
                bar.finished_height,
                bar.x,
                bar.failed_y,
                bar.width,
                bar.failed_height,
                bar.x,
                chart.top,
                bar.width,
                chart.plot_height,
            )
            for bar in chart.bars
        ),
    )
    labels = format_html_join(
        "",
        '<text class="scale" x="{}" y="{}" text-anchor="{}">{}</text>',
        ((x, chart.height, anchor, text) for x, anchor, text in chart.time_labels),
    )
    return format_html(
        '<svg viewBox="{}" role="img" aria-label="Jobs finished and failed per minute over the last hour"'
        ' preserveAspectRatio="none">{}{}{}</svg>',
        chart.viewbox,
        grid,
        bars,
        labels,
    )


def _nice_ceiling(value: int) -> int:
    """The smallest of 2, 4, 10, 20, 40, 100... that is at least ``value``."""
    ceiling = 2
    while ceiling < value:
        ceiling = ceiling * 5 // 2 if str(ceiling).startswith("4") else ceiling * 2
    return ceiling
