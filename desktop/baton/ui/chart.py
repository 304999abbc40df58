"""A small time-series chart for the power panel: a few lines over the last minutes, drawn with QPainter.

Why not a plotting library: the panel only needs polylines, a grid, axis labels and a legend, and pyqtgraph (what it
used before) costs about 23 MB of resident memory once imported (it loads Qt's OpenGL, SVG and Test modules and ~170
Python modules); the app's memory budget is 150 MB over `baton ask` in all. This widget costs a few hundred KB.

Shapes: a series is two equal-length sequences, ``xs`` (seconds relative to now, so ``<= 0``) and ``ys`` (values in
the chart's unit, ``>= 0``). The x axis spans ``[-history_s, 0]``; the y axis runs from 0 to ``top`` (set by the caller
with :meth:`TimeChart.set_top`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN_LEFT = 44  # room for the y tick labels
MARGIN_RIGHT = 10
MARGIN_TOP = 24  # the title
MARGIN_BOTTOM = 34  # x tick labels and the axis label


@dataclass
class Series:
    """One line: its legend ``name`` (None: not in the legend), ``color`` and points (``xs`` s, ``ys`` values)."""

    name: str | None
    color: str
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)


def nice_step(span: float, ticks: int = 4) -> float:
    """A round tick spacing (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks over ``span`` (> 0)."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, ticks)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if raw <= m * mag:
            return m * mag
    return 10.0 * mag


def tick_label(v: float, step: float) -> str:
    """``v`` with as many decimals as ``step`` needs (0.25 -> 2 decimals, 5 -> none)."""
    if step >= 1:
        return f"{v:.0f}"
    return f"{v:.{min(6, max(0, -math.floor(math.log10(step))))}f}"


class TimeChart(QWidget):
    """A titled line chart of the last ``history_s`` seconds; ``x_label`` under the x axis. Colors come from
    :meth:`set_colors` (text, muted, grid, canvas). Call :meth:`set_series` then :meth:`set_top`; both repaint."""

    def __init__(self, title: str, history_s: float, x_label: str = "seconds ago",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.history_s = float(history_s)
        self.x_label = x_label
        self.top = 1.0
        self._series: dict[str, Series] = {}
        self._colors = {"text": "#1f2328", "muted": "#5f6b7a", "grid": "#d8dee4", "canvas": "#ffffff"}
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, 160)

    # ---- data ------------------------------------------------------------------------------------
    def set_series(self, key: str, xs: Sequence[float], ys: Sequence[float], name: str | None, color: str) -> None:
        """Replace line ``key``'s points (``xs`` seconds <= 0, ``ys`` >= 0, same length) and its legend name."""
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = Series(name, color)
        s.name, s.color = name, color
        s.xs, s.ys = [float(x) for x in xs], [float(y) for y in ys]
        self.update()

    def set_color(self, key: str, color: str) -> None:
        """Recolor line ``key`` (a theme change); unknown keys are ignored."""
        if key in self._series:
            self._series[key].color = color
            self.update()

    def series(self, key: str) -> Series | None:
        """Line ``key`` as last set, or None."""
        return self._series.get(key)

    def keys(self) -> list[str]:
        """The lines' keys in the order they were first set."""
        return list(self._series)

    def legend(self) -> list[str]:
        """The legend entries shown, in order."""
        return [s.name for s in self._series.values() if s.name]

    def set_top(self, top: float) -> None:
        """The y axis runs from 0 to ``top`` (> 0; anything else keeps 1.0)."""
        self.top = float(top) if top > 0 and math.isfinite(top) else 1.0
        self.update()

    def set_colors(self, colors: dict[str, str]) -> None:
        """Theme colors: keys ``text``, ``muted``, ``grid``, ``canvas`` (hex strings)."""
        self._colors.update({k: colors[k] for k in ("text", "muted", "grid", "canvas") if k in colors})
        self.update()

    # ---- drawing ---------------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        """Where the lines are drawn, in widget coordinates."""
        return QRectF(MARGIN_LEFT, MARGIN_TOP, max(1.0, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
                      max(1.0, self.height() - MARGIN_TOP - MARGIN_BOTTOM))

    def to_point(self, x: float, y: float) -> QPointF:
        """Widget coordinates of the data point (``x`` s, ``y``), clamped to the plot rectangle."""
        r = self.plot_rect()
        fx = min(1.0, max(0.0, (x + self.history_s) / self.history_s))
        fy = min(1.0, max(0.0, y / self.top))
        return QPointF(r.left() + fx * r.width(), r.bottom() - fy * r.height())

    def paintEvent(self, _event) -> None:  # noqa: N802, ANN001
        c = self._colors
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(c["canvas"]))
        r = self.plot_rect()
        fm = p.fontMetrics()
        p.setPen(QColor(c["text"]))
        p.drawText(QRectF(0, 2, self.width(), MARGIN_TOP - 4), Qt.AlignmentFlag.AlignCenter, self.title)
        grid, muted = QPen(QColor(c["grid"])), QColor(c["muted"])
        y_step = nice_step(self.top)
        v = 0.0
        while v <= self.top + 1e-9:
            pt = self.to_point(0, v)
            p.setPen(grid)
            p.drawLine(QPointF(r.left(), pt.y()), QPointF(r.right(), pt.y()))
            p.setPen(muted)
            p.drawText(QRectF(0, pt.y() - fm.height() / 2, MARGIN_LEFT - 6, fm.height()),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, tick_label(v, y_step))
            v += y_step
        x_step = nice_step(self.history_s, 5)
        x = -self.history_s
        while x <= 1e-9:
            pt = self.to_point(x, 0)
            p.setPen(grid)
            p.drawLine(QPointF(pt.x(), r.top()), QPointF(pt.x(), r.bottom()))
            p.setPen(muted)
            p.drawText(QRectF(pt.x() - 30, r.bottom() + 2, 60, fm.height()), Qt.AlignmentFlag.AlignHCenter,
                       tick_label(abs(x), x_step))
            x += x_step
        p.drawText(QRectF(r.left(), r.bottom() + fm.height() + 2, r.width(), fm.height()),
                   Qt.AlignmentFlag.AlignHCenter, self.x_label)
        for s in self._series.values():
            if len(s.xs) < 2:
                continue
            path = QPainterPath(self.to_point(s.xs[0], s.ys[0]))
            for x, y in zip(s.xs[1:], s.ys[1:]):
                path.lineTo(self.to_point(x, y))
            p.setPen(QPen(QColor(s.color), 2))
            p.drawPath(path)
        self._draw_legend(p, r)
        p.end()

    def _draw_legend(self, p: QPainter, r: QRectF) -> None:
        fm = p.fontMetrics()
        y = r.top() + 4
        for s in self._series.values():
            if not s.name:
                continue
            p.setPen(QPen(QColor(s.color), 2))
            p.drawLine(QPointF(r.left() + 6, y + fm.height() / 2), QPointF(r.left() + 20, y + fm.height() / 2))
            p.setPen(QColor(self._colors["text"]))
            p.drawText(QPointF(r.left() + 24, y + fm.ascent()), s.name)
            y += fm.height() + 2
