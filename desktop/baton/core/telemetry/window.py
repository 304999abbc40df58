"""From channel states at a window's begin, first token and end to a labelled ``Measurement``.

Rules, per scope:
- a measured counter that did not move while it was read for ``stuck_after_s(sensor)`` seconds is
  frozen (VMs expose such RAPL counters): it is unavailable ("counter did not move") and the scope's
  fallback (the labelled CPU estimate for ``cpu_package``) reports the window instead;
- a measured sensor that covered only part of the window (reads failed, it stopped moving, a gap in
  polling) keeps its measured joules, and the uncovered time is added as a separate ``estimated``
  part (the fallback's power, else the sensor's own mean measured power), so ``measured_share``
  drops below 1 instead of claiming a full measurement.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from baton.core.telemetry.channel import Channel, ChannelState
from baton.core.telemetry.sensors import COUNTER, Sensor
from baton.core.types import EnergyPart, Measurement

States = dict[int, ChannelState]


def stuck_after_s(sensor: Sensor) -> float | None:
    """Seconds of reading after which a measured counter that never moved is judged frozen (None:
    never judged: power sensors, the estimate, cross-checks, gauges that may repeat a value)."""
    if sensor.kind != COUNTER or sensor.source == "estimated" or sensor.cross_check or sensor.stale_after_s is None:
        return None
    return min(sensor.stale_after_s, max(0.5, 50.0 * sensor.update_period_s))


def judge_stuck(ch: Channel, b: ChannelState, e: ChannelState) -> bool:
    """Set or clear ``ch.stuck`` from two good states; True when the channel is frozen now."""
    limit = stuck_after_s(ch.sensor)
    if limit is None:
        return False
    if e.energy_j > b.energy_j:
        ch.stuck = None
        return False
    troubled = (e.errors - b.errors) + (e.bad - b.bad) + (e.not_ready - b.not_ready) + (e.resyncs - b.resyncs)
    unchanged_s = e.t - (e.last_change_t if e.last_change_t is not None else e.t)
    if e.reads > b.reads and troubled == 0 and unchanged_s >= limit:  # every read good, and all the same
        ch.stuck = (f"counter did not move in {unchanged_s:.2f} s of reading (a VM or firmware that exposes "
                    "the counter without updating it): not used, the estimate stands in")
        return True
    return False


@dataclass
class _Span:
    gross: float
    prefill: float | None
    window_s: float
    covered_s: float
    problems: list[str]


def _span(ch: Channel, b: ChannelState, f: ChannelState | None, e: ChannelState) -> _Span:
    gross = e.energy_j - b.energy_j
    window_s = max(0.0, e.t - b.t)
    covered = max(0.0, e.covered_s - b.covered_s)
    problems: list[str] = []
    limit = stuck_after_s(ch.sensor)
    if limit is not None and gross > 0 and e.last_change_t is not None and e.last_good_t is not None:
        frozen_tail = e.last_good_t - max(e.last_change_t, b.t)  # read fine, never moved
        if frozen_tail >= limit:  # moved, then stopped for good: the tail is not a measurement
            covered = max(0.0, covered - frozen_tail)
            problems.append(f"counter stopped moving for the last {frozen_tail:.2f} s")
    if covered < window_s and e.problem and (e.errors > b.errors or e.resyncs > b.resyncs or e.not_ready > b.not_ready):
        problems.append(e.problem)
    prefill = (f.energy_j - b.energy_j) if f is not None else None
    return _Span(gross, prefill, window_s, min(covered, window_s), problems)


def _tolerance(window_s: float) -> float:
    return max(1e-3, 0.005 * window_s)


def _add(flags: list[str], flag: str) -> None:
    if flag not in flags:
        flags.append(flag)


class Composer:
    """Builds one ``Measurement`` for a meter's channels (``primary``: counted; ``fallbacks``: one
    estimate channel per scope, read alongside, used only where a primary fails). ``idle_w`` maps
    sensor names to idle watts (the baseline), or is None."""

    def __init__(self, primary: list[Channel], fallbacks: list[Channel], idle_w: dict[str, float] | None) -> None:
        self.primary = primary
        self.fallbacks = {ch.sensor.scope: ch for ch in fallbacks}
        self.idle_w = idle_w

    def measurement(self, begin: States, first: States | None, end: States) -> Measurement:
        """The ``Measurement`` between ``begin`` and ``end`` (``first``: the first token's states, or None)."""
        states = [*begin.values()]
        ends = [*end.values()]
        duration_s = max(0.0, max((s.t for s in ends), default=0.0) - min((s.t for s in states), default=0.0))
        groups: dict[tuple[str, str, bool], list[Channel]] = defaultdict(list)
        replaced: dict[str, list[str]] = defaultdict(list)  # scope -> why its measured source was dropped
        replaced_flags: dict[str, list[str]] = defaultdict(list)
        partial: dict[str, list[tuple[Channel, _Span]]] = defaultdict(list)
        for ch in self.primary:
            b, e = begin[id(ch)], end[id(ch)]
            span = _span(ch, b, first[id(ch)] if first is not None else None, e)
            measured = ch.sensor.source != "estimated" and not ch.sensor.cross_check
            if measured and judge_stuck(ch, b, e):
                replaced[ch.sensor.scope].append(f"{ch.sensor.describe()}: {ch.stuck}")
                replaced_flags[ch.sensor.scope].append("stale")
                continue
            if measured and span.covered_s <= _tolerance(span.window_s) < span.window_s:
                dropped = self._part(ch.sensor.scope, ch.sensor.source, [ch], begin, first, end, 0.0)
                detail = dropped.note if dropped is not None else "; ".join(span.problems)
                replaced[ch.sensor.scope].append(f"no usable reading in the window from {detail}")
                replaced_flags[ch.sensor.scope].extend(dropped.flags if dropped is not None else ["stale"])
                continue
            if measured and span.window_s - span.covered_s > _tolerance(span.window_s):
                partial[ch.sensor.scope].append((ch, span))
            groups[(ch.sensor.scope, ch.sensor.source, ch.sensor.cross_check)].append(ch)
        parts: list[EnergyPart] = []
        cross: list[EnergyPart] = []
        for (scope, source, is_cross), chans in groups.items():
            part = self._part(scope, source, chans, begin, first, end, duration_s)
            if part is not None:
                (cross if is_cross else parts).append(part)
        covered_scopes = {p.scope for p in parts}
        for scope, why in replaced.items():
            if scope in covered_scopes:
                continue
            fb = self.fallbacks.get(scope)
            part = self._part(scope, fb.sensor.source, [fb], begin, first, end, duration_s) if fb else None
            if part is None:  # nothing stands in: say so, labelled, rather than a measured 0 J
                part = EnergyPart(scope=scope, source="unavailable", energy_j=0.0, note="not measured",
                                  prefill_j=0.0 if first is not None else None,
                                  decode_j=0.0 if first is not None else None,
                                  net_j=0.0 if self.idle_w is not None else None)
            part.note = "; ".join([*why, part.note])
            for flag in replaced_flags.get(scope, []):
                _add(part.flags, flag)
            parts.append(part)
        for scope, spans in partial.items():
            fill = self._fill(scope, spans, begin, first, end)
            if fill is not None:
                parts.append(fill)
        return Measurement(parts=parts, duration_s=duration_s, cross_checks=cross)

    def _fill(self, scope: str, spans: list[tuple[Channel, _Span]], begin: States, first: States | None,
              end: States) -> EnergyPart | None:
        """The estimated part for the time a measured scope was not covered."""
        fb = self.fallbacks.get(scope)
        energy = prefill = 0.0
        net: float | None = 0.0
        notes: list[str] = []
        for ch, span in spans:
            missing_s = span.window_s - span.covered_s
            if fb is not None:
                fb_span = _span(fb, begin[id(fb)], first[id(fb)] if first is not None else None, end[id(fb)])
                watts = fb_span.gross / fb_span.window_s if fb_span.window_s > 0 else 0.0
                how = "at the CPU estimate's power"
                idle = (self.idle_w or {}).get(fb.sensor.name)
            else:
                watts = span.gross / span.covered_s if span.covered_s > 0 else 0.0
                how = "at the sensor's mean measured power"
                idle = (self.idle_w or {}).get(ch.sensor.name)
            joules = watts * missing_s
            energy += joules
            if span.prefill is not None and span.gross > 0:
                prefill += joules * min(1.0, max(0.0, span.prefill / span.gross))
            net = None if net is None or idle is None else net + max(0.0, joules - idle * missing_s)
            why = f" ({'; '.join(span.problems)})" if span.problems else ""
            notes.append(f"{ch.sensor.describe()} covered {span.covered_s:.2f} s of the {span.window_s:.2f} s window"
                         f"{why}: the other {missing_s:.2f} s estimated {how} ({watts:.2f} W)")
        if energy <= 0 and not notes:
            return None
        return EnergyPart(scope=scope, source="estimated", energy_j=energy, note="; ".join(notes),
                          prefill_j=prefill if first is not None else None,
                          decode_j=(energy - prefill) if first is not None else None,
                          net_j=net if self.idle_w is not None else None, flags=["partial"])

    def _part(self, scope: str, source: str, chans: list[Channel], begin: States, first: States | None,
              end: States, duration_s: float) -> EnergyPart | None:
        gross = prefill = 0.0
        flags: list[str] = []
        notes: list[str] = []
        idle_w: float | None = 0.0
        usable = False
        for ch in chans:
            b, e = begin[id(ch)], end[id(ch)]
            gross += e.energy_j - b.energy_j
            if first is not None:
                prefill += first[id(ch)].energy_j - b.energy_j
            new = {k: getattr(e, k) - getattr(b, k) for k in ("wraps", "bad", "errors", "resyncs", "not_ready", "reads")}
            usable = usable or new["not_ready"] < new["reads"]
            sensor = ch.sensor
            if duration_s < sensor.update_period_s:
                _add(flags, "short_window")
                notes.append(f"window {duration_s:.2f} s is shorter than the {sensor.update_period_s:g} s update period")
            if new["wraps"]:
                _add(flags, "wrap")
                notes.append(f"counter wrapped {new['wraps']}x (unwrapped)")
            if new["bad"]:
                _add(flags, "bad_data")
                notes.append(f"{new['bad']} bad reading(s) skipped: {e.problem}")
            if new["errors"] or new["resyncs"] or (new["not_ready"] and new["not_ready"] < new["reads"]):
                _add(flags, "stale")
                notes.append(f"some reads missing: {e.problem}")
            elif sensor.kind != COUNTER and sensor.stale_after_s is not None and e.last_change_t is not None:
                unchanged_s = e.t - e.last_change_t
                if unchanged_s > sensor.stale_after_s and duration_s > sensor.stale_after_s:
                    _add(flags, "stale")
                    notes.append(f"value has not changed for {unchanged_s:.1f} s")
            baseline = self.idle_w.get(sensor.name) if self.idle_w is not None else None
            idle_w = None if baseline is None or idle_w is None else idle_w + baseline
        if not usable:
            return None  # e.g. a battery on the charger for the whole window: nothing to report
        net: float | None = None
        if idle_w is not None and self.idle_w is not None:
            net = gross - idle_w * duration_s
            notes.append(f"net = gross - idle {idle_w:.2f} W x {duration_s:.2f} s")
            if net < 0:
                net = 0.0
                notes.append("net below idle: shown as 0")
        described = "; ".join(dict.fromkeys(ch.sensor.describe() for ch in chans))
        return EnergyPart(
            scope=scope,
            source=source,
            energy_j=gross,
            note="; ".join([described, *notes]),
            prefill_j=prefill if first is not None else None,
            decode_j=(gross - prefill) if first is not None else None,
            net_j=net,
            flags=flags,
        )
