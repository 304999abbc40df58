"""`baton models`: what is on disk, the curated catalog, and verified downloads."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, TextIO

from baton.core.errors import DownloadError, ModelError, UsageError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "models", help="list usable models, show the catalog, download a model",
        description="List every GGUF Baton can use (its own folder, the default model, and models already "
                    "on disk from Ollama, LM Studio, GPT4All, Jan and the Hugging Face cache), with how each "
                    "would load here.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document (CONTRACT.md)")
    p.set_defaults(func=run_list)
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")

    pull = actions.add_parser("pull", help="download a model by URL or catalog id (resumable, verified)")
    pull.add_argument("source", metavar="URL|CATALOG_ID")
    pull.add_argument("--sha256", help="expected sha256 (catalog entries carry their own where known)")
    pull.add_argument("--json", dest="pull_json", action="store_true", help="print the result as JSON")
    pull.set_defaults(func=run_pull)

    cat = actions.add_parser("catalog", help="the curated catalog, with what fits this machine")
    cat.add_argument("--json", dest="catalog_json", action="store_true", help="print one JSON document")
    cat.add_argument("--fits", action="store_true", help="only the models that fit this machine")
    cat.set_defaults(func=run_catalog)


# ---- baton models -------------------------------------------------------------------------------


def _gb(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _params(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


def _resident_entry(e: dict[str, Any]) -> dict[str, Any]:
    """One process's hold on a model, as `baton models --json` shows it under ``resident``."""
    held = e.get("held") or {}
    return {"pid": e.get("pid"), "model_id": e.get("model_id"), "slots": e.get("slots") or {},
            "device": e.get("device"), "ram_bytes": e.get("ram_bytes"), "vram_bytes": e.get("vram_bytes"),
            "kv_bytes": held.get("kv_bytes"), "saved_bytes": held.get("saved_bytes"),
            "warm_slots": e.get("warm_slots"), "saved_states": e.get("saved_states")}


def _resident_text(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "-"
    parts = []
    for e in entries:
        slots = (e.get("slots") or {}).get("parallel", "?")
        parts.append(f"pid {e.get('pid')}: {slots} slots, {_gb(e.get('ram_bytes'))} RAM")
    return "; ".join(parts)


def run_list(args: argparse.Namespace, ctx: Any) -> int:
    from baton.core.engine.discovery import scan_models
    from baton.core.engine.resident_file import read_all

    res = scan_models(ctx.paths, ctx.settings)
    loaded = {_real(k): [_resident_entry(e) for e in v] for k, v in read_all(ctx.paths.cache_dir / "resident").items()}
    listed = {_real(str(m.path)) for m in res.models}
    if args.json:
        json.dump([{**m.to_dict(), "resident": loaded.get(_real(str(m.path)), [])} for m in res.models], sys.stdout)
        sys.stdout.write("\n")
    else:
        rows = [["ID", "ORIGIN", "PARAMS", "QUANT", "SIZE", "CONTEXT", "FIT", "RESIDENT"]]
        for m in res.models:
            fit = m.fit.device if m.fit else "?"
            if m.fit and m.fit.device == "split":
                fit = f"split ({m.fit.n_gpu_layers} layers on GPU)"
            rows.append([m.id, m.origin, _params(m.params), m.quant, _gb(m.size_bytes), str(m.context_length), fit,
                         _resident_text(loaded.get(_real(str(m.path)), []))])
        _table(rows, sys.stdout)
    for path, entries in loaded.items():
        if path not in listed:  # loaded by path from a folder Baton does not scan
            print(f"baton: also resident: {path} ({_resident_text(entries)})", file=sys.stderr)
        for m in res.models:
            if m.fit and m.fit.device == "none":
                print(f"baton: {m.id} {m.fit.reason}", file=sys.stderr)
    for s in res.skipped:
        where = f"{s.path}: " if s.path else ""
        print(f"baton: skipped {where}{s.reason}", file=sys.stderr)
    return 0


# ---- baton models catalog -----------------------------------------------------------------------


def run_catalog(args: argparse.Namespace, ctx: Any) -> int:
    from baton.core.engine.catalog import load_catalog
    from baton.core.engine.fit import detect_gpu, free_ram

    catalog = load_catalog()
    ram, gpu = free_ram(), detect_gpu()
    n_ctx = ctx.settings.engine.n_ctx
    rows: list[tuple[Any, Any]] = []
    for m in catalog:
        plan = m.plan(n_ctx, free_ram_bytes=ram, gpu=gpu or False)
        if args.fits and not plan.fits:
            continue
        rows.append((m, plan))
    if args.catalog_json:
        out = []
        for m, plan in rows:
            d = m.to_dict()
            d["fit"] = {k: plan.to_dict()[k] for k in ("device", "n_gpu_layers", "ram_bytes", "vram_bytes", "reason")}
            d["installed"] = bool(m.filename) and (ctx.paths.models_dir / m.filename).is_file()
            out.append(d)
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0
    table = [["ID", "KIND", "PARAMS", "QUANT", "SIZE", "RAM@4K", "LICENSE", f"FIT@{n_ctx}"]]
    for m, plan in rows:
        table.append([m.id, m.kind, _params(m.params), m.quant, _gb(m.size_bytes), _gb(m.ram_bytes), m.license,
                      plan.device])
    _table(table, sys.stdout)
    gpu_note = f"{gpu.name}, {_gb(gpu.free_bytes)} VRAM free" if gpu else "no GPU"
    print(f"baton: {len(rows)} of {len(catalog)} shown; this machine: {_gb(ram)} RAM free, {gpu_note}. "
          "Download one with `baton models pull ID`.", file=sys.stderr)
    return 0


# ---- baton models pull --------------------------------------------------------------------------


class ProgressBar:
    """Progress on stderr: redrawn at most every 0.2 s on a terminal, a line per 10% elsewhere."""

    def __init__(self, label: str, out: TextIO = sys.stderr, interval_s: float = 0.2) -> None:
        self.label, self.out, self.interval_s = label, out, interval_s
        self.tty = out.isatty()
        self.t0 = time.monotonic()
        self.last_draw = 0.0
        self.last_decile = -1
        self.start_bytes: int | None = None

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self.start_bytes is None:
            self.start_bytes = done
        finished = total is not None and done >= total
        if self.tty:
            if now - self.last_draw < self.interval_s and not finished:
                return
            self.last_draw = now
            self.out.write("\r" + self.line(done, total, now) + "\x1b[K")
            if finished:
                self.out.write("\n")
        else:
            decile = int(done * 10 / total) if total else -1
            if decile == self.last_decile:
                return
            self.last_decile = decile
            self.out.write(self.line(done, total, now) + "\n")
        self.out.flush()

    def line(self, done: int, total: int | None, now: float) -> str:
        elapsed = max(now - self.t0, 1e-6)
        rate = (done - (self.start_bytes or 0)) / elapsed
        pct = f"{100 * done / total:5.1f}% " if total else ""
        eta = f" ETA {int((total - done) / rate)}s" if total and rate > 0 and done < total else ""
        return f"{self.label} {pct}{_gb(done)} / {_gb(total)} {rate / 1e6:.1f} MB/s{eta}"


def run_pull(args: argparse.Namespace, ctx: Any) -> int:
    from baton.core.engine.catalog import find, load_catalog
    from baton.core.engine.download import pull
    from baton.core.engine.gguf import read_gguf_info

    source, sha = args.source, args.sha256
    if "://" not in source:
        model = find(load_catalog(), source)
        if not model.url:
            from baton.core.engine.defaults import default_model_path

            path = default_model_path(ctx.paths.cache_dir)
            print(f"baton: {model.id} ships with Baton; it is already at {path}", file=sys.stderr)
            return _report(args, {"path": str(path), "size_bytes": path.stat().st_size, "sha256": model.sha256,
                                  "resumed_from": 0, "restarted": False, "already_present": True})
        source, sha = model.url, sha or model.sha256 or None
    elif "/" not in source.split("://", 1)[1]:
        raise UsageError(f"'{source}' has no file path; pass a link to a .gguf file")
    bar = ProgressBar(source.rsplit("/", 1)[-1].split("?")[0])
    result = pull(source, ctx.paths.models_dir, sha256=sha, progress=bar, offline=ctx.settings.is_offline,
                  on_note=lambda m: print(f"baton: {m}", file=sys.stderr))
    try:
        info = read_gguf_info(result.path)
    except ModelError as e:
        result.path.unlink(missing_ok=True)
        raise DownloadError(f"the download is not a usable GGUF model ({e}); it was deleted") from None
    if not sha:
        print(f"baton: no sha256 to check against; pin this file with --sha256 {result.sha256}", file=sys.stderr)
    state = "already present" if result.already_present else "saved"
    print(f"baton: {state} {result.path} ({_gb(result.size_bytes)}, {info.arch}, {info.quant}); "
          "run `baton models` to see it", file=sys.stderr)
    return _report(args, {"path": str(result.path), "size_bytes": result.size_bytes, "sha256": result.sha256,
                          "resumed_from": result.resumed_from, "restarted": result.restarted,
                          "already_present": result.already_present})


def _report(args: argparse.Namespace, doc: dict[str, Any]) -> int:
    if args.pull_json:
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    return 0
