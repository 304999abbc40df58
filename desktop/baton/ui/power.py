"""The live power panel: watts per scope, RAM/VRAM and tokens per second over the last minutes, and
today's totals. Reads the meter's sampler (a core thread) once a second while the panel is visible."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from baton.ui.backend import Backend, PowerReading, PowerSeries, Totals
from baton.ui.format import fmt_energy, fmt_usd, fmt_wh
from baton.ui.registry import Registry
from baton.ui.theme import Theme

HISTORY_S = 300.0
TICK_MS = 1000
TOTALS_EVERY_TICKS = 5


class PowerPanel(QWidget):
    def __init__(self, backend: Backend, registry: Registry, theme: Theme,
                 rates: Callable[[], Iterable[tuple[float, float]]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("powerPanel")
        self._backend = backend
        self._theme = theme
        self._rates = rates
        self.series = PowerSeries(HISTORY_S)
        self._ticks = 0
        self._curves: dict[str, tuple[pg.PlotDataItem, int]] = {}

        self.local_value = _value_label()
        self.local_note = _note_label()
        self.cloud_value = _value_label()
        self.cloud_note = _note_label()
        self.saved_value = _value_label()
        self.saved_note = _note_label()
        totals = QGridLayout()
        for col, (title, value, note) in enumerate((("Local today", self.local_value, self.local_note),
                                                     ("Cloud today", self.cloud_value, self.cloud_note),
                                                     ("Saved vs all-cloud", self.saved_value, self.saved_note))):
            head = QLabel(title)
            head.setObjectName("sectionTitle")
            totals.addWidget(head, 0, col)
            totals.addWidget(value, 1, col)
            totals.addWidget(note, 2, col)

        self.plots = pg.GraphicsLayoutWidget()
        self.power_plot = self.plots.addPlot(row=0, col=0, title="Power (W)")
        self.memory_plot = self.plots.addPlot(row=1, col=0, title="Memory (GB)")
        self.speed_plot = self.plots.addPlot(row=2, col=0, title="Tokens per second")
        for p in (self.power_plot, self.memory_plot, self.speed_plot):
            p.setMenuEnabled(False)
            p.setMouseEnabled(x=False, y=False)
            p.hideButtons()
            p.showGrid(x=True, y=True, alpha=0.25)
            p.setXRange(-HISTORY_S, 0, padding=0)
            p.setLabel("bottom", "seconds ago")
            p.getViewBox().setLimits(yMin=0)
        self.power_plot.addLegend(offset=(4, 4))
        self.memory_plot.addLegend(offset=(4, 4))
        self.power_empty = QLabel("No power readings on this machine yet. Energy figures fall back to a CPU "
                                  "estimate (set your CPU's TDP in Settings); `baton energy probe` explains why.")
        self.power_empty.setObjectName("totalsNote")
        self.power_empty.setWordWrap(True)
        self.power_empty.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addLayout(totals)
        layout.addWidget(self.power_empty)
        layout.addWidget(self.plots, 1)
        self._timer = registry.timer("power-panel", self, TICK_MS, self.tick)
        theme.changed.connect(self._restyle)
        self._restyle(theme.dark)

    # ---- visibility drives the timer ---------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: ANN001
        super().showEvent(event)
        self.tick()
        self._timer.start()

    def hideEvent(self, event) -> None:  # noqa: ANN001
        self._timer.stop()
        super().hideEvent(event)

    def stop(self) -> None:
        self._timer.stop()

    # ---- one refresh -----------------------------------------------------------------------------
    def tick(self) -> None:
        now = time.monotonic()
        new = self._backend.power_since(self.series.last_t)
        if new is None:  # no sampler on this machine: sample memory here, once a tick
            mem = self._backend.memory()
            new = [PowerReading(now, {}, {}, int(mem.get("rss_bytes") or 0), mem.get("vram_bytes"))]
        self.series.add(new)
        self._plot(now)
        if self._ticks % TOTALS_EVERY_TICKS == 0:
            self.refresh_totals()
        self._ticks += 1

    def _plot(self, now: float) -> None:
        ser = self.series
        scopes = list(ser.watts)
        self.power_empty.setVisible(not scopes)
        tops = [1.0]
        for i, scope in enumerate(scopes):
            xs, ys = ser.xy(ser.watts[scope], now)
            label = f"{scope} ({ser.sources.get(scope, '?')})"
            self._curve(f"w:{scope}", self.power_plot, label, i).setData(xs, ys)
            tops.append(float(ys.max()) if len(ys) else 0.0)
        xs, ys = ser.xy(ser.rss_gb, now)
        self._curve("rss", self.memory_plot, "RAM (this process)", 0).setData(xs, ys)
        mem_tops = [0.5, float(ys.max()) if len(ys) else 0.0]
        if ser.vram_gb:
            xs, ys = ser.xy(ser.vram_gb, now)
            self._curve("vram", self.memory_plot, "VRAM", 1).setData(xs, ys)
            mem_tops.append(float(ys.max()) if len(ys) else 0.0)
        tok = [(t, v) for t, v in self._rates() if now - t <= HISTORY_S]
        if tok:
            tok.append((now, tok[-1][1]))
        xs, ys = ser.xy(tok, now)
        self._curve("tok", self.speed_plot, None, 2).setData(xs, ys)
        self._fit_y(self.power_plot, max(tops))
        self._fit_y(self.memory_plot, max(mem_tops))
        self._fit_y(self.speed_plot, max([10.0, float(ys.max()) if len(ys) else 0.0]))

    @staticmethod
    def _fit_y(plot: pg.PlotItem, top: float) -> None:
        """From zero to a little above the largest value, so small wiggles do not look like cliffs."""
        plot.setYRange(0, top * 1.15, padding=0)

    def _curve(self, key: str, plot: pg.PlotItem, name: str | None, color_index: int) -> pg.PlotDataItem:
        known = self._curves.get(key)
        if known is not None:
            return known[0]
        series = self._theme.colors["series"]
        curve = plot.plot([], [], name=name, pen=pg.mkPen(series[color_index % len(series)], width=2))
        self._curves[key] = (curve, color_index)
        return curve

    def refresh_totals(self) -> None:
        try:
            t = self._backend.today()
        except Exception as e:  # a locked or missing database must not break the panel
            self.local_note.setText(f"totals unavailable: {e}")
            return
        self.show_totals(t)

    def show_totals(self, t: Totals) -> None:
        self.local_value.setText(fmt_wh(t.local_j))
        if t.local_j <= 0:
            share = "nothing spent on this computer yet today"
        elif t.local_measured_j <= 0:
            share = "estimated (no hardware counter here)"
        else:
            share = f"{t.local_measured_j / t.local_j:.0%} measured, the rest estimated"
        self.local_note.setText(f"{fmt_energy(t.local_j)} · {share}")
        self.cloud_value.setText(fmt_usd(t.cloud_usd))
        self.cloud_note.setText(f"{t.answers} answer{'s' if t.answers != 1 else ''} today, "
                                f"{t.escalations} escalated")
        if t.saved_usd is None:
            self.saved_value.setText("—")
            self.saved_note.setText("estimate: add a cloud endpoint with prices to compare against")
        else:
            self.saved_value.setText(f"≈ {fmt_usd(t.saved_usd)}")
            self.saved_note.setText(f"estimate: local tokens at {t.priced_against}'s prices")

    def _restyle(self, dark: bool) -> None:
        c = self._theme.colors
        self.plots.setBackground(c["canvas"])
        for p in (self.power_plot, self.memory_plot, self.speed_plot):
            for axis in ("left", "bottom"):
                ax = p.getAxis(axis)
                ax.setPen(pg.mkPen(c["grid"]))
                ax.setTextPen(pg.mkPen(c["muted"]))
            p.setTitle(p.titleLabel.text, color=c["text"])
            if p.legend is not None:
                p.legend.setLabelTextColor(c["text"])
                for _sample, label in p.legend.items:
                    label.setText(label.text, color=c["text"])
        for curve, i in self._curves.values():
            curve.setPen(pg.mkPen(c["series"][i % len(c["series"])], width=2))


def _value_label() -> QLabel:
    label = QLabel("—")
    label.setObjectName("totalsValue")
    return label


def _note_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("totalsNote")
    label.setWordWrap(True)
    return label
