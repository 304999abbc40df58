"""The window's one door into the core: a thin adapter over ``BatonService`` (no Qt here).

Everything the UI reads or asks goes through ``Backend``, so the widgets never reach into the store,
the meter or the router directly, and a change in the core's signatures is absorbed in this file.
``ask`` runs on worker threads; the other methods are called on the GUI thread and are quick
(SQLite reads, a psutil call).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from baton.config import Settings
from baton.core.errors import BatonError, UsageError
from baton.core.totals import local_tokens_usd, reference_endpoint
from baton.paths import Paths
from baton.ui.cockpit_backend import CockpitBackend

@dataclass
class ThreadInfo:
    id: str
    title: str
    updated_at: float
    message_count: int = 0
    energy_j: float = 0.0
    usd: float = 0.0
    pinned: bool = False
    archived: bool = False


@dataclass
class MessageView:
    id: str
    role: str
    content: str
    status: str
    model: str | None
    tier: str | None
    created_at: float
    receipt: dict[str, Any] | None = None
    note: str = ""  # why it was refused or escalated, kept across restarts
    versions: list[str] = field(default_factory=list)  # ids of the versions at this point, oldest first
    version_index: int = 0  # which of ``versions`` this is
    parent_id: str | None = None


@dataclass
class Totals:
    """Today's spend. ``saved_usd`` is an estimate (local tokens priced at the first endpoint's rates)."""

    local_j: float = 0.0
    local_measured_j: float = 0.0
    cloud_usd: float = 0.0
    answers: int = 0
    escalations: int = 0
    local_prompt_tokens: int = 0
    local_completion_tokens: int = 0
    saved_usd: float | None = None
    priced_against: str | None = None

    @property
    def local_wh(self) -> float:
        return self.local_j / 3600.0


@dataclass
class PowerReading:
    t_s: float
    watts: dict[str, float] = field(default_factory=dict)  # scope -> W
    sources: dict[str, str] = field(default_factory=dict)  # scope -> source label
    rss_bytes: int = 0
    vram_bytes: int | None = None


class PowerSeries:
    """The last minutes of readings as ring buffers of (t, value), appended to, never rebuilt."""

    def __init__(self, history_s: float, max_hz: float = 20.0) -> None:
        self.maxlen = int(history_s * max_hz)
        self.history_s = history_s
        self.last_t = float("-inf")
        self.watts: dict[str, deque[tuple[float, float]]] = {}
        self.sources: dict[str, str] = {}
        self.rss_gb: deque[tuple[float, float]] = deque(maxlen=self.maxlen)
        self.vram_gb: deque[tuple[float, float]] = deque(maxlen=self.maxlen)

    def add(self, readings: list[PowerReading]) -> None:
        for r in readings:
            if r.t_s <= self.last_t:
                continue
            self.last_t = r.t_s
            for scope, w in r.watts.items():
                self.watts.setdefault(scope, deque(maxlen=self.maxlen)).append((r.t_s, w))
            self.sources.update(r.sources)
            self.rss_gb.append((r.t_s, r.rss_bytes / 1e9))
            if r.vram_bytes:
                self.vram_gb.append((r.t_s, r.vram_bytes / 1e9))

    def xy(self, points: Any, now: float) -> tuple[Any, Any]:
        """Seconds before ``now`` and values, as numpy arrays, for the last ``history_s``."""
        import numpy as np

        arr = np.array(points, dtype=float).reshape(-1, 2)
        arr = arr[arr[:, 0] >= now - self.history_s]
        return arr[:, 0] - now, arr[:, 1]


def midnight_ts(now: float | None = None) -> float:
    t = time.localtime(now)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


class Backend(CockpitBackend):
    def __init__(self, service: Any, paths: Paths, settings: Settings) -> None:
        self.service = service
        self.paths = paths
        self.settings = settings

    @property
    def store(self) -> Any:
        return self.service.store

    # ---- threads ------------------------------------------------------------------------------
    def list_threads(self, archived: bool = False) -> list[ThreadInfo]:
        """The sidebar's threads in their stable order (pinned first, then newest created; ``store.ordered_threads``),
        or the archived ones."""
        pinned = {tid for tid, s in self.store.all_thread_settings().items() if s.pinned}
        return [ThreadInfo(t.id, t.title, t.updated_at, t.message_count, t.energy_j, t.usd, t.id in pinned,
                           t.archived) for t in self.store.ordered_threads(archived=archived)]

    def thread(self, thread_id: str) -> ThreadInfo:
        t = self.store.get_thread(thread_id)
        return ThreadInfo(t.id, t.title, t.updated_at, t.message_count, t.energy_j, t.usd)

    def create_thread(self, title: str = "") -> ThreadInfo:
        t = self.store.create_thread(title)
        return ThreadInfo(t.id, t.title, t.updated_at)

    def rename_thread(self, thread_id: str, title: str) -> None:
        self.store.rename_thread(thread_id, title)

    def delete_thread(self, thread_id: str) -> None:
        self.store.delete_thread(thread_id)

    def history(self, thread_id: str, picks: dict[str, str] | None = None) -> list[MessageView]:
        """The messages the chat shows: the thread's current versions, or where ``picks`` (point key -> version id,
        see ui/versions.py) chose another version, that one and its branch; each with its receipt and the
        versions at its point. A local answer an escalation replaced comes just before its successor."""
        from baton.ui.versions import shown_path, with_versions

        receipts = self.store.thread_receipts(thread_id)
        everything = self.store.history(thread_id)
        shown = shown_path(self.store.thread_path(thread_id), everything, picks or {})
        return [MessageView(m.id, m.role, m.content, m.status, m.model, m.tier, m.created_at, receipts.get(m.id),
                            m.note or "", ids, idx, m.parent_id)
                for m, ids, idx in with_versions(shown, everything)]

    def fork(self, thread_id: str, message_id: str) -> ThreadInfo:
        """A new thread holding ``thread_id``'s messages up to and including ``message_id`` (the service's fork)."""
        t = self.service.fork(thread_id, message_id)
        return ThreadInfo(t.id, t.title, t.updated_at, t.message_count, t.energy_j, t.usd)

    # ---- answering (worker threads) -------------------------------------------------------------
    def ask(self, prompt: str, thread_id: str, model: str | None, tier: str,
            on_text: Callable[[str], None], cancel: threading.Event,
            approve: Callable[[Any], bool], on_status: Callable[[str], None]) -> dict[str, Any]:
        endpoint = model if tier == "cloud" and model else None  # the composer's route: a named endpoint
        result = self.service.ask(prompt, thread_id=thread_id, model=None if endpoint else model, tier=tier,
                                  endpoint=endpoint, on_text=on_text, cancel=cancel, approve=approve,
                                  on_status=on_status)
        return result.receipt()

    def retry(self, message_id: str, tier: str, target: str | None, on_text: Callable[[str], None],
              cancel: threading.Event, approve: Callable[[Any], bool],
              on_status: Callable[[str], None]) -> dict[str, Any]:
        """Answer again the question behind answer ``message_id``: on endpoint ``target`` (or the router's pick)
        when ``tier`` is ``cloud``, else on local model ``target`` (or the default). A new version in place."""
        if tier == "cloud":
            result = self.service.retry(message_id, endpoint=target or None, tier="cloud", on_text=on_text,
                                        cancel=cancel, approve=approve, on_status=on_status)
        else:
            result = self.service.retry(message_id, tier=tier, model=target or None, on_text=on_text, cancel=cancel,
                                        approve=approve, on_status=on_status)
        return result.receipt()

    def edit(self, message_id: str, text: str, tier: str, on_text: Callable[[str], None], cancel: threading.Event,
             approve: Callable[[Any], bool], on_status: Callable[[str], None]) -> dict[str, Any]:
        """Ask ``text`` in place of question ``message_id``: a new version of the question, answered."""
        result = self.service.edit(message_id, text, tier=tier, on_text=on_text, cancel=cancel, approve=approve,
                                   on_status=on_status)
        return result.receipt()

    def compare(self, thread_id: str | None, prompt: str, a: dict[str, Any], b: dict[str, Any],
                on_text_a: Callable[[str], None], on_text_b: Callable[[str], None], cancel: threading.Event,
                on_status: Callable[[str, Any], None]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """One question on side ``a`` then side ``b`` (the service's ``compare``): the two receipts (b's None when
        stopped before it ran)."""
        ra, rb = self.service.compare(thread_id, prompt, a, b, on_text_a=on_text_a, on_text_b=on_text_b,
                                      cancel=cancel, on_status=on_status)
        return ra.receipt(), (rb.receipt() if rb is not None else None)

    def keep(self, message_id: str) -> None:
        """Make answer ``message_id`` the current version at its point (the service's ``keep``)."""
        self.service.keep(message_id)

    def feedback(self, message_id: str, kind: str) -> None:
        """The user judged an answer ('accept' or 'escalate'): the service stores it and the router learns."""
        self.service.feedback(message_id, kind)

    # ---- models ---------------------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        return [m.to_dict() if hasattr(m, "to_dict") else dict(m) for m in self.service.models()]

    def resident_models(self) -> list[dict[str, Any]]:
        """What the service has loaded now (model, RAM, slots, idle time)."""
        return list(self.service.resident_models())

    def generated_tokens(self) -> int:
        """Answer tokens the loaded local models have produced since they were loaded, every caller together (the
        window, the API server): ``service.generated_tokens``."""
        return int(self.service.generated_tokens())

    def default_model_label(self) -> str:
        if self.settings.default_model:
            return os.path.basename(self.settings.default_model).removesuffix(".gguf")
        from baton.core.engine.defaults import DEFAULT_MODEL

        return DEFAULT_MODEL.id

    # ---- endpoints, keys, settings --------------------------------------------------------------
    def endpoint_names(self) -> list[str]:
        return [e.name for e in self.settings.endpoints]

    def test_endpoint(self, endpoint: Any, key: str | None = None) -> str:
        """A real request to ``endpoint``'s ``/models`` (as `baton endpoints test`), with ``key`` or the stored one.
        Returns one line saying what answered; raises a BatonError (scrubbed of the key) when it failed or the
        endpoint does not serve its model."""
        from baton.core.cloud.client import CloudClient

        if not endpoint.base_url:
            raise UsageError("give the endpoint a base URL first (it usually ends in /v1)")
        if key is None:
            try:
                key = self._credentials().get(endpoint)
            except BatonError:
                key = None
        client = CloudClient(endpoint, key or None, offline=self.settings.is_offline, max_retries=0)
        t0 = time.perf_counter()
        try:
            models = client.list_models()
        finally:
            client.close()
        took = time.perf_counter() - t0
        if endpoint.model and endpoint.model not in models:
            shown = ", ".join(models[:8]) + (" ..." if len(models) > 8 else "") or "none"
            raise UsageError(f"{endpoint.base_url} answered, but does not serve '{endpoint.model}' (it serves: {shown})")
        return f"OK: {endpoint.base_url} answered in {took:.2f} s and serves {endpoint.model or len(models)}" + \
            ("" if endpoint.model else " models")

    def reload_settings(self) -> bool:
        """Read the config file again (changed outside the app, e.g. `baton endpoints remove`) into the live settings
        and tell the service. Returns False when the file is unreadable or invalid (the live settings stay)."""
        try:
            fresh = Settings.load(self.paths.config_file)
            fresh.validate()
        except (BatonError, OSError, ValueError):
            return False
        _copy_into(self.settings, fresh)
        self.settings._doc = fresh._doc  # noqa: SLF001 - later saves keep the file's own layout and comments
        self.service.settings_changed()
        return True

    def save_settings(self, new: Settings) -> None:
        """Validate ``new``, copy it into the live settings object (the service holds the same object), write the
        TOML file and tell the service."""
        new.validate()
        _copy_into(self.settings, new)
        self.settings.save(self.paths.config_file)
        self.service.settings_changed()

    def _credentials(self) -> Any:
        creds = getattr(getattr(self.service, "cloud", None), "credentials", None)
        if creds is None:
            from baton.core.cloud.credentials import Credentials

            creds = Credentials()
        return creds

    def set_api_key(self, endpoint: str, key: str) -> None:
        """Store ``key`` in the OS keyring. Raises a BatonError (naming the env-var route) when there is none."""
        from baton.core.cloud.credentials import NoKeyring

        try:
            self._credentials().set(endpoint, key)
        except NoKeyring as e:
            raise UsageError(
                f"the key for '{endpoint}' was not saved ({e}); put it in an environment variable and name that "
                "variable in the 'Key env var' field") from None

    def key_source(self, endpoint: str, key_env: str = "") -> str:
        """Where the key for ``endpoint`` comes from: 'env:VAR', 'keyring' or 'none' (never the key)."""
        from baton.config import Endpoint

        try:
            return str(self._credentials().source(Endpoint(name=endpoint, base_url="", model="", key_env=key_env)))
        except BatonError:
            return "none"

    # ---- telemetry ------------------------------------------------------------------------------
    def memory(self) -> dict[str, Any]:
        meter = getattr(self.service, "meter", None)
        if meter is not None and hasattr(meter, "memory"):
            try:
                return dict(meter.memory())
            except Exception:
                pass
        import psutil

        return {"rss_bytes": psutil.Process().memory_info().rss, "vram_bytes": None}

    def start_sampling(self) -> None:
        """Start the meter's background sampler (a core thread; stopped when the service closes)."""
        meter = getattr(self.service, "meter", None)
        if meter is not None:
            try:
                meter.sampler  # noqa: B018 (the property starts it)
            except Exception:
                pass

    def power_since(self, t_s: float) -> list[PowerReading] | None:
        """The sampler's readings newer than ``t_s`` (monotonic seconds), oldest first; None when this
        machine has no sampler. Only the new samples are converted, so a 1 Hz refresh stays cheap."""
        meter = getattr(self.service, "meter", None)
        sampler = getattr(meter, "sampler", None) if meter is not None else None
        if sampler is None or not hasattr(sampler, "snapshot"):
            return None
        try:
            snap = sampler.snapshot()
        except Exception:
            return None
        if isinstance(snap, list):
            i = len(snap)
            while i > 0 and float(getattr(snap[i - 1], "t", getattr(snap[i - 1], "t_s", 0.0))) > t_s:
                i -= 1
            snap = snap[i:]
        return [r for r in normalize_snapshot(snap) if r.t_s > t_s]

    def today(self) -> Totals:
        """Today's totals from the service's spend report, and what the local answers would have cost on the
        first priced endpoint."""
        rep = self.service.spend_report(midnight_ts())
        tot = Totals(local_j=float(rep["local"]["energy_j"]), cloud_usd=float(rep["cloud"]["usd"]),
                     answers=int(rep["all"]["answers"]), escalations=int(rep["all"]["escalations"]),
                     local_measured_j=float(rep["local_measured_j"]),
                     local_prompt_tokens=int(rep["local_prompt_tokens"]),
                     local_completion_tokens=int(rep["local_completion_tokens"]))
        priced = reference_endpoint(self.settings.endpoints)
        if priced is not None:
            tot.priced_against = priced.name
            tot.saved_usd = local_tokens_usd(priced, tot.local_prompt_tokens, tot.local_completion_tokens)
        return tot

    def refresh_idle(self) -> bool:
        """Measure the idle baseline if it is stale and nothing generates (call off the GUI thread)."""
        return self.service.refresh_idle()

    def close(self) -> None:
        self.service.close()


def normalize_snapshot(snap: Any) -> list[PowerReading]:
    """Accept the sampler's snapshot as a list of samples (objects or dicts) or as a dict of series."""
    out: list[PowerReading] = []
    if snap is None:
        return out
    if isinstance(snap, dict) and "t_s" in snap:
        ts = list(snap.get("t_s") or [])
        watts = snap.get("watts") or {}
        rss = snap.get("rss_bytes") or []
        vram = snap.get("vram_bytes") or []
        sources = snap.get("sources") or {}
        for i, t in enumerate(ts):
            out.append(PowerReading(
                float(t), {k: float(v[i]) for k, v in watts.items() if i < len(v) and v[i] is not None},
                dict(sources), int(rss[i]) if i < len(rss) and rss[i] is not None else 0,
                int(vram[i]) if i < len(vram) and vram[i] is not None else None))
        return out
    samples = getattr(snap, "samples", snap)
    for s in samples:
        get = s.get if isinstance(s, dict) else (lambda k, d=None, _s=s: getattr(_s, k, d))
        t = get("t_s", None) or get("time_s", None) or get("t", 0.0)
        watts = get("watts", None) or get("power_w", None) or {}
        out.append(PowerReading(float(t), {k: float(v) for k, v in dict(watts).items() if v is not None},
                                dict(get("sources", None) or {}), int(get("rss_bytes", 0) or 0),
                                get("vram_bytes", None)))
    return out


def _copy_into(target: Any, source: Any) -> None:
    """Copy dataclass fields from ``source`` into ``target`` in place (lists keep their identity)."""
    for f in fields(target):
        new = getattr(source, f.name)
        old = getattr(target, f.name)
        if is_dataclass(old) and is_dataclass(new):
            _copy_into(old, new)
        elif isinstance(old, list) and isinstance(new, list):
            old[:] = new
        else:
            setattr(target, f.name, new)


def describe_error(e: BaseException) -> str:
    if isinstance(e, BatonError):
        return str(e)
    return f"unexpected error ({type(e).__name__}: {e}); the details are in the log"
