"""Metric histories plotted in the terminal (textual-plotext): several series, by step or by time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]


# one marker per series, so overlaid series are told apart without colour (NO_COLOR, monochrome terminals)
MARKERS = ("•", "+", "x", "o", "*", "#", "@", "%")


def time_axis(span_s: float) -> tuple[str, float]:
    """The x label and the divisor for a time axis whose points span span_s seconds: seconds up to 2
    minutes, minutes up to 2 hours, then hours."""
    if span_s <= 120:
        return "time (s)", 1.0
    if span_s <= 7200:
        return "time (min)", 60.0
    return "time (h)", 3600.0


def step_ticks(lo: float, hi: float, n: int = 5) -> list[int]:
    """About n whole-number ticks from lo to hi: steps are integers (no "7.2" on a step axis)."""
    lo_i, hi_i = int(lo), int(round(hi))
    if hi_i <= lo_i:
        return [lo_i]
    return sorted({round(lo_i + i * (hi_i - lo_i) / (n - 1)) for i in range(n)})


class MetricPlot(PlotextPlot):
    """set_series() replaces what is drawn; `summary` tells in words what is on it (for tests, NO_COLOR)."""

    DEFAULT_CSS = """
    MetricPlot { height: 1fr; min-height: 7; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.series: list[Series] = []
        self.x_label = "step"
        self.title_text = ""
        self.markers: list[str] = []

    def set_series(self, series: Sequence[Series], by: str = "step", title: str = "") -> None:
        """by "step": x is the step; by "time": x is seconds since the first point, shown in the unit the span
        calls for ("time (s)", "time (min)", "time (h)")."""
        series = [s for s in series if s.xs]
        x_label = "step"
        if by == "time":
            x_label, div = time_axis(max((max(s.xs) for s in series), default=0.0))
            series = [Series(s.label, [x / div for x in s.xs], s.ys) for s in series]
        self.series = series
        self.x_label = x_label
        self.title_text = title
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.markers = self._markers(len(self.series))
        for s, marker in zip(self.series, self.markers, strict=True):
            if len(s.xs) == 1:
                plt.scatter(s.xs, s.ys, label=s.label, marker=marker if marker != "braille" else "•")
            else:
                plt.plot(s.xs, s.ys, label=s.label, marker=marker)
        plt.xlabel(x_label)
        if by == "step" and self.series:
            plt.xticks(step_ticks(min(min(s.xs) for s in self.series), max(max(s.xs) for s in self.series)))
        plt.title(title or ("no metric history" if not self.series else ""))
        self.refresh()

    def _markers(self, n: int) -> list[str]:
        """Braille lines (finest) when colour tells series apart; a distinct character each without colour
        or when several series share the plot."""
        if n <= 1 and not getattr(self.app, "no_color", False):
            return ["braille"] * n
        return [MARKERS[i % len(MARKERS)] for i in range(n)]

    @property
    def summary(self) -> str:
        if not self.series:
            return "no metric history"
        marks = [m if m != "braille" else "line" for m in self.markers] or ["line"] * len(self.series)
        return "; ".join(f"{s.label} ({mark}): {len(s.xs)} points, last {s.ys[-1]:.4g}"
                         for s, mark in zip(self.series, marks, strict=False))
