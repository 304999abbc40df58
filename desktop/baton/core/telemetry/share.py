"""Windows that overlap: answers generated at the same time, in one batch, split the machine's joules by work.

Each answer opens its own window (``SharedWindows.begin()``) and reports the tokens it had processed (prompt and
answer tokens alike) as it goes (``SharedWindow.work(n)``). Whenever any window opens or closes, the energy used
since the last such moment (a *segment*) is read from the counted channels and divided between the windows open
in it, in proportion to the tokens each processed in it (equally when none processed any: waiting costs the same
share as idling). A window's result is its own ``Measurement`` (parts, sources, flags, prefill/decode split) scaled
by the share it earned, so the parts of all overlapping windows add up to the energy of their union, and each
result says how many other answers shared the machine with it (``SharedMeasurement.shared_with``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from baton.core.types import EnergyPart, Measurement


@dataclass
class SharedMeasurement(Measurement):
    """A ``Measurement`` that is a share of a window other answers ran in too.

    ``shared_with``: how many other answers' windows overlapped this one; ``share``: the fraction of this
    window's joules attributed to it (1.0 when it ran alone); ``tokens``: the tokens it processed."""

    shared_with: int = 0
    share: float = 1.0
    tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The receipt's energy document plus ``shared_with`` (how many other answers ran in the window) and
        ``share_of_window`` (this answer's share of the window's joules, 0..1)."""
        out = super().to_dict()
        out["shared_with"] = self.shared_with
        out["share_of_window"] = round(self.share, 4)
        return out


class SharedWindow:
    """One answer's window among possibly overlapping ones. ``work``, ``first_token`` and ``end`` may be called
    from any thread; ``end`` again returns the same result."""

    def __init__(self, owner: "SharedWindows", inner: Any) -> None:
        self._owner = owner
        self._inner = inner  # the meter's own window over the same time
        self.pending_tokens = 0  # processed since the last segment boundary
        self.tokens = 0
        self.own_j = 0.0  # joules attributed to this window so far
        self.seen_j = 0.0  # joules of every segment this window was open in
        self.others: set[int] = set()
        self._result: SharedMeasurement | None = None

    def work(self, n_tokens: int) -> None:
        """Count ``n_tokens`` tokens this answer just had processed (prompt or answer)."""
        with self._owner.lock:
            self.pending_tokens += int(n_tokens)
            self.tokens += int(n_tokens)

    def first_token(self) -> None:
        """Mark the first token (splits prefill and decode energy)."""
        self._inner.first_token()

    def end(self) -> SharedMeasurement:
        """Close the window; its ``Measurement`` scaled to the share it earned."""
        if self._result is not None:
            return self._result
        self._owner.close(self)
        m = self._inner.end()
        share = self.own_j / self.seen_j if self.seen_j > 0 else 1.0
        self._result = SharedMeasurement(
            parts=[_scaled(p, share) for p in m.parts], duration_s=m.duration_s,
            cross_checks=[_scaled(p, share) for p in m.cross_checks],
            shared_with=len(self.others), share=share, tokens=self.tokens)
        return self._result

    def __enter__(self) -> "SharedWindow":
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()


class SharedWindows:
    """The overlapping windows of one meter (see the module docstring). ``energy_j()`` is read at every boundary:
    the meter's counted channels' running totals (J). ``last_union`` is the meter's own ``Measurement`` of the
    last stretch of time during which at least one window was open (what the shares must add up to)."""

    def __init__(self, meter: Any) -> None:
        self._meter = meter
        self.lock = threading.Lock()
        self._open: list[SharedWindow] = []
        self._last_j: float | None = None
        self._union: Any = None
        self.last_union: Measurement | None = None

    def begin(self) -> SharedWindow:
        """Open a window for one answer (the meter's window is opened inside it)."""
        with self.lock:
            if not self._open:
                self._union = self._meter.begin()
            self._boundary()
            w = SharedWindow(self, self._meter.begin())
            for other in self._open:
                other.others.add(id(w))
                w.others.add(id(other))
            self._open.append(w)
            return w

    def close(self, w: SharedWindow) -> None:
        """Take ``w`` out of the open windows (it ended); later segments are split among the others."""
        with self.lock:
            if w in self._open:
                self._boundary()
                self._open.remove(w)
            if not self._open:
                self._last_j = None
                if self._union is not None:
                    self.last_union, self._union = self._union.end(), None

    def energy_j(self) -> float:
        """The running total of the channels a receipt counts (J)."""
        states = self._meter.read_power()
        return float(sum(states[id(ch)].energy_j for ch in self._meter.counted_channels() if id(ch) in states
                         and not ch.sensor.cross_check))

    def _boundary(self) -> None:
        """Split the energy since the last boundary between the open windows (lock held)."""
        if not self._open:
            self._last_j = self.energy_j()
            return
        now = self.energy_j()
        spent = max(0.0, now - (self._last_j if self._last_j is not None else now))
        self._last_j = now
        total = sum(w.pending_tokens for w in self._open)
        for w in self._open:
            w.seen_j += spent
            w.own_j += spent * (w.pending_tokens / total if total else 1.0 / len(self._open))
            w.pending_tokens = 0


def _scaled(p: EnergyPart, share: float) -> EnergyPart:
    def mul(v: float | None) -> float | None:
        return None if v is None else v * share

    return replace(p, energy_j=p.energy_j * share, prefill_j=mul(p.prefill_j), decode_j=mul(p.decode_j),
                   net_j=mul(p.net_j), flags=list(p.flags))
