"""The live power panel: watts per scope, RAM/VRAM and tokens per second over the last minutes, and
today's totals. Reads the meter's sampler (a core thread) once a second while the panel is visible."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from baton.ui.backend import Backend, PowerReading, PowerSeries, Totals
from baton.ui.chart import TimeChart
from baton.ui.format import fmt_energy, fmt_usd, fmt_wh
from baton.ui.registry import Registry
from baton.ui.theme import Theme

HISTORY_S = 300.0
TICK_MS = 1000
TOTALS_EVERY_TICKS = 5


class PowerPanel(QWidget):
    """Today's totals and three charts over the last ``HISTORY_S`` seconds: watts per scope (with their source),
    this process's RAM (and VRAM), and the local models' tokens per second. ``generated``: the answer tokens the
    loaded models have produced since they were loaded (any caller: this window, the API server); its change
    between two ticks is the tokens-per-second figure."""

    def __init__(self, backend: Backend, registry: Registry, theme: Theme,
                 generated: Callable[[], int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("powerPanel")
        self._backend = backend
        self._theme = theme
        self._generated = generated
        self._gen_mark: tuple[float, int] | None = None
        self.rates: deque[tuple[float, float]] = deque(maxlen=int(HISTORY_S * 1000 / TICK_MS) + 2)
        self.series = PowerSeries(HISTORY_S)
        self._ticks = 0
        self._curves: dict[str, tuple[TimeChart, int]] = {}  # key -> (chart, color index)

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

        self.power_plot = TimeChart("Power (W)", HISTORY_S)
        self.memory_plot = TimeChart("Memory (GB)", HISTORY_S)
        self.speed_plot = TimeChart("Tokens per second", HISTORY_S)
        self.plots = QWidget()
        charts = QVBoxLayout(self.plots)
        charts.setContentsMargins(0, 0, 0, 0)
        for chart in (self.power_plot, self.memory_plot, self.speed_plot):
            charts.addWidget(chart, 1)
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
        self._sample_rate(now)
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
            self._set(f"w:{scope}", self.power_plot, label, i, xs, ys)
            tops.append(float(ys.max()) if len(ys) else 0.0)
        xs, ys = ser.xy(ser.rss_gb, now)
        self._set("rss", self.memory_plot, "RAM (this process)", 0, xs, ys)
        mem_tops = [0.5, float(ys.max()) if len(ys) else 0.0]
        if ser.vram_gb:
            xs, ys = ser.xy(ser.vram_gb, now)
            self._set("vram", self.memory_plot, "VRAM", 1, xs, ys)
            mem_tops.append(float(ys.max()) if len(ys) else 0.0)
        xs, ys = ser.xy(list(self.rates), now)
        self._set("tok", self.speed_plot, None, 2, xs, ys)
        self._fit_y(self.power_plot, max(tops))
        self._fit_y(self.memory_plot, max(mem_tops))
        self._fit_y(self.speed_plot, max([10.0, float(ys.max()) if len(ys) else 0.0]))

    def _sample_rate(self, now: float) -> None:
        """Tokens per second since the last tick, from the loaded models' counters (a model unloaded meanwhile
        counts as zero, never as negative)."""
        try:
            n = int(self._generated())
        except Exception:  # noqa: BLE001 - a figure the panel cannot read is a gap, not a crash
            return
        mark, self._gen_mark = self._gen_mark, (now, n)
        if mark is not None and now > mark[0]:
            self.rates.append((now, max(0, n - mark[1]) / (now - mark[0])))

    @staticmethod
    def _fit_y(chart: TimeChart, top: float) -> None:
        """From zero to a little above the largest value, so small wiggles do not look like cliffs."""
        chart.set_top(top * 1.15)

    def _set(self, key: str, chart: TimeChart, name: str | None, color_index: int, xs, ys) -> None:  # noqa: ANN001
        series = self._theme.colors["series"]
        chart.set_series(key, xs, ys, name, series[color_index % len(series)])
        self._curves[key] = (chart, color_index)

    def points(self, key: str) -> tuple[list[float], list[float]]:
        """The plotted points of line ``key`` (``w:SCOPE``, ``rss``, ``vram``, ``tok``): seconds ago (<= 0) and
        values; empty lists when it was never plotted."""
        known = self._curves.get(key)
        s = known[0].series(key) if known else None
        return (list(s.xs), list(s.ys)) if s is not None else ([], [])

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
        for chart in (self.power_plot, self.memory_plot, self.speed_plot):
            chart.set_colors(c)
        for key, (chart, i) in self._curves.items():
            chart.set_color(key, c["series"][i % len(c["series"])])


def _value_label() -> QLabel:
    label = QLabel("—")
    label.setObjectName("totalsValue")
    return label


def _note_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("totalsNote")
    label.setWordWrap(True)
    return label
