"""Resident models: every loaded engine, what it holds, when it was last used, and unloading the idle ones.

More than one model stays loaded while memory allows. A new model is planned beside the resident ones (their
weights are memory-mapped, so the free-RAM figure still counts them as reclaimable cache: the planner takes them
off); when it does not fit, idle residents are unloaded, least recently used first, and a resident that is
generating is never unloaded: the load is refused with one line instead. A model idle longer than its
time-to-live is unloaded by a timer thread that sleeps until the next deadline (and not at all while nothing is
loaded), so an idle app wakes at most once per time-to-live.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.core.errors import ModelDoesNotFit

PlanFn = Callable[[Path], Any]  # path -> FitPlan beside the resident models; raises ModelDoesNotFit
Factory = Callable[[Path, str, Any], Any]  # (path, model id, plan) -> Engine


@dataclass
class Resident:
    """One loaded model: its engine, file, plan (``FitPlan`` or None) and when it was last asked for (monotonic s)."""

    model_id: str
    path: Path
    engine: Any
    plan: Any
    loaded_at: float
    last_used: float
    uses: int = field(default=0)

    def busy(self) -> bool:
        """True while the engine generates or has answers waiting."""
        return bool(getattr(self.engine, "busy", False))

    def idle_s(self, now: float) -> float:
        """Seconds since it was last asked for or last generated, 0 while busy (Units: s)."""
        if self.busy():
            return 0.0
        since = now - self.last_used
        engine_idle = getattr(self.engine, "idle_s", None)
        return max(0.0, min(since, float(engine_idle())) if engine_idle is not None else since)

    def describe(self, now: float) -> dict[str, Any]:
        """The ``resident`` object of `baton models --json`: ``slots`` (parallel, active, waiting, limit),
        ``ram_bytes``/``vram_bytes`` planned, ``held`` (weights, KV cache, saved states; bytes), ``idle_s``."""
        eng = self.engine
        slots = dict(eng.slots()) if hasattr(eng, "slots") else {"parallel": 1, "active": int(self.busy()),
                                                                  "waiting": 0}
        slots["limit"] = int(getattr(eng, "limit", slots.get("parallel", 1)))
        held = eng.held_bytes() if hasattr(eng, "held_bytes") else {}
        cache = eng.cache_stats() if hasattr(eng, "cache_stats") else {}
        return {"model_id": self.model_id, "path": str(self.path), "slots": slots,
                "ram_bytes": int(getattr(self.plan, "ram_bytes", 0) or 0),
                "vram_bytes": int(getattr(self.plan, "vram_bytes", 0) or 0),
                "device": getattr(self.plan, "device", "cpu"), "held": held,
                "warm_slots": int(cache.get("warm_slots", 0)), "saved_states": int(cache.get("saved_states", 0)),
                "generated_tokens": int(cache.get("generated_tokens", 0)),
                "idle_s": round(self.idle_s(now), 1), "busy": self.busy()}


class Residency:
    """The loaded engines of one service (thread-safe). ``ttl_s()`` is read at each check (a setting the user may
    change; 0 or less: never unload for idleness). ``publish_to``: a folder where what is resident is written
    for other processes (``resident_file``) after every load and unload; None writes nothing."""

    def __init__(self, factory: Factory, plan: PlanFn, ttl_s: Callable[[], float],
                 clock: Callable[[], float] = time.monotonic, publish_to: Path | None = None) -> None:
        self._factory = factory
        self._plan = plan
        self._ttl_s = ttl_s
        self._clock = clock
        self._publish_to = publish_to
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._models: dict[str, Resident] = {}
        self._closing = False
        self._reaper: threading.Thread | None = None
        self.unloaded: list[tuple[str, str]] = []  # (model id, why), oldest first, for tests and the app's log

    # ---- loading ------------------------------------------------------------------------------
    def get(self, path: Path, model_id: str) -> tuple[Any, float]:
        """The engine for ``model_id`` (loaded beside the resident ones when needed) and the seconds its load took.
        Raises ``ModelDoesNotFit`` when it does not fit even after unloading every idle model, naming a resident
        one that is generating; ``ModelError`` from the load."""
        with self._lock:
            res = self._models.get(model_id)
            if res is None:
                plan = self._make_room(path, model_id)
                eng = self._factory(path, model_id, plan)
                now = self._clock()
                res = self._models[model_id] = Resident(model_id, path, eng, plan, now, now)
            res.last_used = self._clock()
            res.uses += 1
            self._wake.notify_all()
        self._ensure_reaper()
        try:
            load_s = res.engine.load()
        except BaseException:
            with self._lock:
                if self._models.get(model_id) is res:
                    del self._models[model_id]
            res.engine.close()
            raise
        if load_s:
            self._publish()
        return res.engine, load_s

    def _publish(self) -> None:
        if self._publish_to is not None:
            from baton.core.engine.resident_file import publish

            publish(self._publish_to, self.describe())

    def _make_room(self, path: Path, model_id: str) -> Any:
        """The plan for ``path`` beside the residents, unloading idle ones (least recently used first) until it
        fits. Called with the lock held."""
        while True:
            others = list(self._models.values())
            try:
                return self._plan(path)  # reads the residents (this lock is re-entrant)
            except ModelDoesNotFit as e:
                idle = sorted((r for r in others if not r.busy()), key=lambda r: r.last_used)
                if idle:
                    self._unload(idle[0], f"unloaded to make room for {model_id}")
                    continue
                busy = [r.model_id for r in others if r.busy()]
                if busy:
                    raise ModelDoesNotFit(
                        f"{model_id} does not fit beside {', '.join(busy)}, which "
                        f"{'is' if len(busy) == 1 else 'are'} answering now; ask again when "
                        f"{'it finishes' if len(busy) == 1 else 'they finish'}, or ask {busy[0]}") from None
                raise e

    # ---- reading ------------------------------------------------------------------------------
    def engines(self) -> list[Any]:
        """The loaded engines, most recently used first."""
        with self._lock:
            return [r.engine for r in sorted(self._models.values(), key=lambda r: -r.last_used)]

    def residents(self) -> list[Resident]:
        """The resident models, most recently used first."""
        with self._lock:
            return sorted(self._models.values(), key=lambda r: -r.last_used)

    def generated_tokens(self) -> int:
        """Answer tokens the resident models have sampled since they were loaded, every caller together (from each
        engine's counters: no file is read, cheap enough for a once-a-second chart)."""
        return sum(int(r.engine.cache_stats().get("generated_tokens", 0)) for r in self.residents()
                   if hasattr(r.engine, "cache_stats"))

    def forget_warm_state(self) -> int:
        """Drop every resident model's warm slots and saved KV states (their files too); returns how many models.
        States are keyed by tokens, not threads, so a deleted thread's own cannot be told apart from the others'."""
        engines = [r.engine for r in self.residents() if hasattr(r.engine, "forget_cache")]
        for eng in engines:
            eng.forget_cache()
        return len(engines)

    def describe(self) -> list[dict[str, Any]]:
        """``Resident.describe`` of every resident model, most recently used first."""
        now = self._clock()
        return [r.describe(now) for r in self.residents()]

    def set_limit(self, limit: int) -> None:
        """Answer at most ``limit`` threads at once on every resident engine that can (``LlamaEngine.set_limit``)."""
        for eng in self.engines():
            if hasattr(eng, "set_limit"):
                eng.set_limit(limit)

    # ---- unloading ------------------------------------------------------------------------------
    def unload_idle(self) -> list[str]:
        """Unload every model idle longer than ``ttl_s()`` (none when it is 0 or less). Returns their ids."""
        ttl = float(self._ttl_s())
        if ttl <= 0:
            return []
        gone: list[str] = []
        with self._lock:
            now = self._clock()
            for res in list(self._models.values()):
                if res.idle_s(now) >= ttl:
                    self._unload(res, f"idle for more than {ttl:g} s (engine.model_ttl_s)")
                    gone.append(res.model_id)
        return gone

    def unload(self, model_id: str) -> bool:
        """Unload ``model_id`` now unless it is generating. Returns True when it was unloaded."""
        with self._lock:
            res = self._models.get(model_id)
            if res is None or res.busy():
                return False
            self._unload(res, "unloaded on request")
            return True

    def _unload(self, res: Resident, why: str) -> None:
        self._models.pop(res.model_id, None)
        res.engine.close()
        self.unloaded.append((res.model_id, why))
        self._publish()

    def close(self) -> None:
        """Unload every model and stop the timer thread."""
        with self._lock:
            self._closing = True
            for res in list(self._models.values()):
                self._models.pop(res.model_id, None)
                res.engine.close()
            self._wake.notify_all()
            self._publish()
        thread = self._reaper
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    # ---- the timer thread ------------------------------------------------------------------------
    def _ensure_reaper(self) -> None:
        with self._lock:
            if self._closing or (self._reaper is not None and self._reaper.is_alive()):
                return
            self._reaper = threading.Thread(target=self._reap, name="baton-model-ttl", daemon=True)
            self._reaper.start()

    def _next_wait(self) -> float | None:
        """Seconds until the earliest resident may be idle past its time-to-live; None: nothing to wait for."""
        ttl = float(self._ttl_s())
        if not self._models or ttl <= 0:
            return None
        now = self._clock()
        return max(0.05, min(ttl - r.idle_s(now) if not r.busy() else ttl for r in self._models.values()))

    def _reap(self) -> None:
        with self._lock:
            while not self._closing:
                wait = self._next_wait()
                if wait is None:
                    if not self._models:
                        self._wake.wait()  # sleeps until a model is loaded (costs nothing meanwhile)
                    else:
                        self._wake.wait(timeout=60.0)  # time-to-live off: look again if the setting changes
                    continue
                self._wake.wait(timeout=wait)
                if not self._closing:
                    self.unload_idle()
