"""The two tiers `baton bench route` runs, started lazily: nothing loads when every item is cached.

Weak: a local model through ``LlamaEngine``, metered by the service's ``EnergyMeter`` like any receipt.
Strong: an endpoint from the settings through the cloud client, or a GGUF (by default the Qwen2.5-Coder-0.5B
fixture) served by llama-cpp-python's own server on loopback. The strong tier's joules are its J/token
estimate when one is set; for a loopback server this benchmark started, the CPU-time power model
applied to that server process. Both are estimates and labelled so.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from baton.bench.collect import (ItemResult, PromptFormat, ResultCache, cache_file, collect, local_runner,
                                 process_cpu_seconds, prompt_format, remote_runner)
from baton.bench.fixtures import strong_fixture_path
from baton.bench.llama_server import llama_server
from baton.config import Endpoint, Settings
from baton.core.errors import UsageError


def fixture_candidates(models_dir: Path) -> list[Path]:
    """Where the strong-tier fixture may sit: the venv's ``fixtures`` folder (by ``sys.prefix``, then under the
    working directory), then Baton's models folder."""
    return [Path(sys.prefix) / "fixtures", Path.cwd() / ".venv" / "fixtures", models_dir]


class BenchTiers:
    """The weak and the strong tier of one benchmark run, with their result caches; a context manager that
    stops what it started (the loopback server, the client) on exit.

    ``service``: a ``BatonService`` (its settings, paths, model resolution, engines and meter are used).
    ``weak``: a model id or .gguf path (``None``: the default model). ``strong``: an endpoint name or a .gguf
    path (``None``: the first endpoint, else the Qwen2.5-Coder-0.5B fixture). ``strong_j_per_token``: an
    estimate (Units: J/token) that reprices the strong tier's results. ``progress(which, i, n, result,
    cached)`` is called after each item (default: a line on stderr now and then). ``labels``: ``{"weak",
    "strong"}`` -> the model labels that name the cache files. Raises ``UsageError`` for an unknown strong tier
    or when there is none, ``ModelError`` for an unusable weak model.
    """

    def __init__(self, service: Any, cache_dir: Path, weak: str | None, strong: str | None,
                 strong_j_per_token: float | None = None, progress: Any = None,
                 fmt: PromptFormat | None = None) -> None:
        self.service = service
        self.settings: Settings = service.settings
        self.log_dir: Path = service.paths.log_dir
        self.models_dir: Path = service.paths.models_dir
        self.fmt = fmt or prompt_format()
        self.cache_dir = cache_dir
        self.weak_arg = weak
        self.strong_j_per_token = strong_j_per_token
        self.progress = progress if progress is not None else _stderr_progress
        self._stack = ExitStack()
        self.labels: dict[str, str] = {}
        self._strong_endpoint, self._strong_gguf = self._resolve_strong(strong)
        self.labels["strong"] = (f"{self._strong_gguf.stem}@loopback" if self._strong_gguf is not None else
                                 f"{self._strong_endpoint.model}@{urlsplit(self._strong_endpoint.base_url).hostname}")
        self._weak_path, self.labels["weak"] = service.resolve_model(weak)

    def __enter__(self) -> "BenchTiers":
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # ---- which tiers -------------------------------------------------------------------------------
    def _resolve_strong(self, strong: str | None) -> tuple[Endpoint | None, Path | None]:
        settings = self.settings
        if strong:
            for ep in settings.endpoints:
                if ep.name == strong:
                    return ep, None
            p = Path(strong).expanduser()
            if p.suffix == ".gguf" or p.exists():
                if not p.is_file():
                    raise UsageError(f"strong tier model not found: {p}")
                return None, p
            raise UsageError(f"no endpoint named '{strong}' and no such .gguf file; see `baton endpoints list`")
        if settings.endpoints:
            return settings.endpoints[0], None
        for root in fixture_candidates(self.models_dir):
            found = strong_fixture_path(root)
            if found is not None:
                return None, found
        raise UsageError("no strong tier: add an endpoint (`baton endpoints add`), pass --strong MODEL.gguf, "
                         "or run `make fixtures-strong` for the Qwen2.5-Coder-0.5B fixture")

    # ---- running -----------------------------------------------------------------------------------
    def run(self, which: str, items: list[dict[str, str]], run: bool = True) -> list[ItemResult | None]:
        """Results of tier ``which`` (``"weak"`` or ``"strong"``) for ``items``, in order: cached ones as they are,
        the others run now and cached (``run=False``: ``None`` for those). Nothing loads when all are cached.
        Strong results are repriced by the J/token estimate when one is set."""
        cache = ResultCache(cache_file(self.cache_dir, self.labels[which], self.fmt))
        if not run:
            out: list[ItemResult | None] = [cache.get(it) for it in items]
        else:
            runner: dict[str, Any] = {}

            def lazy(item: dict[str, str]) -> ItemResult:
                if "fn" not in runner:
                    runner["fn"] = self._weak_runner() if which == "weak" else self._strong_runner()
                return runner["fn"](item)

            out = list(collect(items, lazy, cache, lambda i, n, r, c: self.progress(which, i, n, r, c)))
        if which == "strong":
            out = [self._reprice(r) if r is not None else None for r in out]
        return out

    def _reprice(self, r: ItemResult) -> ItemResult:
        """Apply a J/token estimate to cached strong results (the cache keeps the tokens)."""
        jpt = self.strong_j_per_token
        if jpt is None and self._strong_endpoint is not None:
            jpt = self._strong_endpoint.j_per_token or None
        if jpt is None:
            return r
        return replace(r, energy_j=(r.prompt_tokens + r.completion_tokens) * jpt, energy_source="estimated:j_per_token")

    def _weak_runner(self) -> Any:
        engine, _ = self.service.engine(self.weak_arg)
        return local_runner(engine, self.service.meter, fmt=self.fmt)

    def _strong_runner(self) -> Any:
        from baton.core.cloud.tiers import CloudTiers

        settings = self.settings
        if self._strong_endpoint is not None:
            ep = self._strong_endpoint
            if self.strong_j_per_token is not None:
                ep = replace(ep, j_per_token=self.strong_j_per_token)
            client = CloudTiers(settings).client(ep)
            self._stack.callback(client.close)
            return remote_runner(client, fmt=self.fmt)
        from baton.core.cloud.client import CloudClient

        import psutil

        # the same thread count as the weak tier (engine.n_threads; 0 = physical cores), so both tiers'
        # joules come from the same kind of load
        threads = settings.engine.n_threads or max(1, psutil.cpu_count(logical=False) or 1)
        log = self.log_dir / "bench-strong-server.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        srv = self._stack.enter_context(llama_server(self._strong_gguf, alias="bench-strong", n_threads=threads,
                                                     start_timeout_s=180.0, log_path=log, warm_up=False))
        ep = Endpoint(name="bench-strong", base_url=srv.base_url, model=srv.model,
                      j_per_token=self.strong_j_per_token or 0.0, context_window=2048, timeout_s=300.0)
        client = CloudClient(ep, None, offline=settings.is_offline)
        self._stack.callback(client.close)
        return remote_runner(client, fmt=self.fmt, process_estimate=_server_estimate(srv.pid, settings))


def _server_estimate(pid: int, settings: Settings) -> Any:
    """The telemetry's CPU power model, fed with the server process's CPU time instead of ours."""
    from baton.core.telemetry.estimate import CpuEstimate

    base = CpuEstimate.from_settings(settings.telemetry.cpu_tdp_w, "process")
    return CpuEstimate(base.tdp_w, base.tdp_note, "process", base.n_logical, cpu_seconds=process_cpu_seconds(pid))


def _stderr_progress(which: str, i: int, n: int, r: ItemResult, cached: bool) -> None:
    if cached and i != n and i % 100:
        return
    tag = "cached" if cached else f"{r.duration_s:.1f} s, {r.energy_j:.1f} J, {'right' if r.correct else 'wrong'}"
    print(f"bench route: {which} {i}/{n} ({tag})", file=sys.stderr, flush=True)
