"""The tiers of a ladder benchmark (`baton bench route --tiers A,B,C`), cheapest first, started lazily.

A tier spec is one of:

- a model id from `baton models` or a ``.gguf`` path: a local tier, run by ``LlamaEngine`` in this process and
  metered by the service's ``EnergyMeter`` like any receipt;
- ``loopback:PATH.gguf``: a remote tier served by llama-cpp-python's own OpenAI-compatible server on 127.0.0.1,
  a process on this machine; its joules are the CPU power model applied to that server process's CPU time
  (``estimated:server_cpu_time``), never a guessed J/token;
- an endpoint name from the settings: a remote tier through the cloud client (joules: its ``j_per_token``).

Results are cached per tier and item (``collect.ResultCache``), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from baton.bench.collect import (ItemResult, PromptFormat, ResultCache, cache_file, local_runner,
                                 process_cpu_seconds, prompt_format, remote_runner)
from baton.bench.llama_server import llama_server
from baton.config import Endpoint
from baton.core.errors import UsageError

CODE_MAX_TOKENS = 384  # answer budget for code questions (Units: tokens); FIXTURES.md measured at 384
LOOPBACK_PREFIX = "loopback:"


class TierSpec:
    """One parsed tier: ``kind`` is ``"local"``, ``"loopback"`` or ``"endpoint"``; ``label`` names its cache file;
    ``path`` (local/loopback GGUF) or ``endpoint``. Raises ``UsageError`` for a spec that names nothing."""

    def __init__(self, spec: str, service: Any) -> None:
        self.spec = spec
        self.endpoint: Endpoint | None = None
        self.path: Path | None = None
        if spec.startswith(LOOPBACK_PREFIX):
            p = Path(spec[len(LOOPBACK_PREFIX):]).expanduser()  # checked when it must run (cached results need no file)
            self.kind, self.path, self.label = "loopback", p, f"{p.stem}@loopback"
            return
        for ep in service.settings.endpoints:
            if ep.name == spec:
                self.kind, self.endpoint = "endpoint", ep
                self.label = f"{ep.model}@{ep.name}"
                return
        path, model_id = service.resolve_model(spec)
        self.kind, self.path, self.label = "local", path, model_id

    @property
    def is_remote(self) -> bool:
        return self.kind != "local"


class LadderTiers:
    """The tiers of one ladder run with their caches; a context manager that stops what it started.

    ``service``: a ``BatonService``; ``specs``: tier specs cheapest first (at least two); ``max_tokens``: the answer
    budget (Units: tokens). Raises ``UsageError`` for fewer than two tiers or an unknown one."""

    def __init__(self, service: Any, cache_dir: Path, specs: list[str], max_tokens: int = CODE_MAX_TOKENS,
                 fmt: PromptFormat | None = None, progress: Any = None) -> None:
        if len(specs) < 2:
            raise UsageError("--tiers needs at least two tiers, cheapest first, separated by commas")
        self.service = service
        self.cache_dir = cache_dir
        self.fmt = fmt or prompt_format()
        self.max_tokens = max_tokens
        self.tiers = [TierSpec(s.strip(), service) for s in specs]
        self.progress = progress if progress is not None else _stderr_progress
        self._stack = ExitStack()
        self._runners: dict[int, Any] = {}
        self._caches = [ResultCache(cache_file(cache_dir, t.label, self.fmt, max_tokens)) for t in self.tiers]

    def __enter__(self) -> "LadderTiers":
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def labels(self) -> list[str]:
        return [t.label for t in self.tiers]

    def cached(self, i: int, item: dict[str, Any]) -> ItemResult | None:
        return self._caches[i].get(item)

    def run_all(self, items: list[dict[str, Any]], run: bool = True) -> list[list[ItemResult | None]]:
        """``out[tier][item]``: every tier's result for every item, item by item (so any prefix of the items is
        complete for all tiers when a run is interrupted). ``run=False``: only what is cached."""
        out: list[list[ItemResult | None]] = [[] for _ in self.tiers]
        for n, item in enumerate(items, 1):
            for i in range(len(self.tiers)):
                r = self._caches[i].get(item)
                cached = r is not None
                if r is None and run:
                    r = self._runner(i)(item)
                    self._caches[i].put(r)
                out[i].append(r)
                if r is not None:
                    self.progress(self.tiers[i].label, n, len(items), r, cached)
        return out

    def _runner(self, i: int) -> Any:
        if i not in self._runners:
            t = self.tiers[i]
            if t.kind == "local":
                engine, _ = self.service.engine(str(t.path))
                self._runners[i] = local_runner(engine, self.service.meter, self.max_tokens, self.fmt)
            elif t.kind == "endpoint":
                from baton.core.cloud.tiers import CloudTiers

                client = CloudTiers(self.service.settings).client(t.endpoint)
                self._stack.callback(client.close)
                self._runners[i] = remote_runner(client, self.max_tokens, self.fmt)
            else:
                self._runners[i] = self._loopback_runner(t)
        return self._runners[i]

    def _loopback_runner(self, t: TierSpec) -> Any:
        if t.path is None or not t.path.is_file():
            raise UsageError(f"tier '{t.spec}': no such .gguf file {t.path} (the 1.5B fixture: `make fixtures-large`)")
        import psutil

        from baton.bench.tiers import _server_estimate
        from baton.core.cloud.client import CloudClient

        settings = self.service.settings
        threads = settings.engine.n_threads or max(1, psutil.cpu_count(logical=False) or 1)
        log = self.service.paths.log_dir / f"bench-{t.path.stem}-server.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        srv = self._stack.enter_context(llama_server(t.path, alias=t.path.stem, n_threads=threads,
                                                     start_timeout_s=300.0, log_path=log, warm_up=False))
        ep = Endpoint(name=t.path.stem, base_url=srv.base_url, model=srv.model, context_window=2048,
                      timeout_s=600.0)
        client = CloudClient(ep, None, offline=settings.is_offline)
        self._stack.callback(client.close)
        return remote_runner(client, self.max_tokens, self.fmt, process_estimate=_server_estimate(srv.pid, settings))


def _stderr_progress(label: str, i: int, n: int, r: ItemResult, cached: bool) -> None:
    if cached and i != n and i % 100:
        return
    tag = "cached" if cached else f"{r.duration_s:.1f} s, {r.energy_j:.1f} J, {r.completion_tokens} tokens"
    print(f"bench ladder: {label} {i}/{n} ({tag})", file=sys.stderr, flush=True)


def load_code_items(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The code tasks of ``path`` (``{"id","question","tests","setup","entry_point","prefix","tag"}`` lines,
    FIXTURES.md) in a fixed order that mixes their sources (by a hash of the id), so the first N of a long run are
    a fair sample. Raises ``UsageError`` for a missing file, a line that is not JSON or lacks its fields."""
    import hashlib

    from baton.bench.collect import read_rows

    items = [{"id": str(row["id"]), "question": str(row["question"]), "tests": list(row["tests"]),
              "setup": str(row.get("setup") or ""), "entry_point": row.get("entry_point"),
              "prefix": str(row.get("prefix") or ""), "tag": str(row.get("tag", ""))}
             for _, row in read_rows(path, ("id", "question", "tests"))]
    items.sort(key=lambda it: hashlib.sha256(it["id"].encode()).hexdigest())
    return items[:limit] if limit is not None else items
