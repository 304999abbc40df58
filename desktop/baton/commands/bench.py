"""`baton bench ...`: benchmarks that print ratios measured in one run.

Each benchmark is its own subcommand with its own ``register_*`` and ``run_*``: ``route`` (routing
quality and energy, scored by ``baton.bench.route``) and ``speed``. Keep this module thin: the work lives
in ``baton.bench``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from baton.core.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="benchmarks (speed: pipeline vs bare llama.cpp; route: routing quality)",
                       description="Benchmarks that print ratios measured in one run.")
    p.set_defaults(func=lambda args, ctx: _usage(p))
    actions = p.add_subparsers(dest="bench_command", metavar="BENCH")
    register_route(actions)
    register_speed(actions)
    register_threads(actions)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


# ---- bench route --------------------------------------------------------------------------------
def register_route(actions: Any) -> None:
    r = actions.add_parser(
        "route", help="score Baton's router against random, oracle, always-local and always-strong",
        description="Runs the weak and the strong tier over a JSONL file of {id, question, answer, tag}, caches "
                    "every item's result, and scores routers with APGR, CPT(50%%), CPT(80%%) and energy per "
                    "correct answer. Baton's numbers are out-of-fold (k-fold).")
    r.add_argument("--data", required=True, help="JSONL file of {\"id\",\"question\",\"answer\",\"tag\"}")
    r.add_argument("--weak", default=None, help="weak tier: a model id from `baton models` or a .gguf path "
                                                "(default: the default local model)")
    r.add_argument("--strong", default=None, help="strong tier: an endpoint name, or a .gguf served on loopback "
                                                  "by llama-cpp-python's server (default: the first endpoint, "
                                                  "else the Qwen2.5-Coder-0.5B fixture from `make fixtures-strong`)")
    r.add_argument("--limit", type=int, default=None, help="only the first N items")
    r.add_argument("--tiers", default=None,
                   help="a ladder, cheapest first, separated by commas: model ids or .gguf paths (local), "
                        "loopback:MODEL.gguf (served on loopback by llama-cpp-python's server), endpoint names")
    r.add_argument("--folds", type=int, default=5, help="k for the out-of-fold scores (default 5)")
    r.add_argument("--cache-dir", default=None, help="where per-item results are cached "
                                                    "(default: Baton's cache dir / bench-route)")
    r.add_argument("--no-run", action="store_true", help="score cached items only; never run a model")
    r.add_argument("--strong-j-per-token", type=float, default=None,
                   help="estimated joules per token of the strong tier (overrides the endpoint's setting)")
    r.add_argument("--threads", type=int, default=None,
                   help="CPU threads for both tiers' models (default: engine.n_threads; on a busy machine 1 "
                        "thread is far faster than oversubscribed cores)")
    r.add_argument("--prompt", choices=("service", "fewshot"), default="service",
                   help="how questions are put to both tiers: what `baton ask` sends (default), or a short-answer "
                        "system prompt with two worked examples")
    r.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    r.set_defaults(func=run_route)


def run_route(args: argparse.Namespace, ctx: Any) -> int:
    from baton.bench.collect import load_items, prompt_format
    from baton.bench.route import score
    from baton.bench.tiers import BenchTiers
    from baton.core.router.shipped import shipped_calibration

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.folds < 2:
        raise UsageError("--folds must be at least 2")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError("--threads must be at least 1")
        ctx.settings.engine.n_threads = args.threads  # this run only; the config file is not written
    if args.tiers:
        from baton.bench.ladder_run import run_ladder

        doc = run_ladder(args, ctx)
        print(json.dumps(doc, indent=2) if args.json else format_ladder_table(doc))
        return 0
    items = load_items(Path(args.data), args.limit)
    cache_dir = Path(args.cache_dir) if args.cache_dir else ctx.paths.cache_dir / "bench-route"
    fmt = prompt_format(args.prompt)
    with BenchTiers(ctx.service(), cache_dir, args.weak, args.strong, args.strong_j_per_token, fmt=fmt) as tiers:
        weak = tiers.run("weak", items, run=not args.no_run)
        strong = tiers.run("strong", items, run=not args.no_run)
    keep = [i for i, (w, s) in enumerate(zip(weak, strong)) if w is not None and s is not None]
    if len(keep) < 2 * args.folds:
        raise UsageError(f"only {len(keep)} items have results for both tiers; run without --no-run first")
    items = [items[i] for i in keep]
    weak_r = [weak[i] for i in keep]
    strong_r = [strong[i] for i in keep]
    shipped = shipped_calibration()
    doc = score(items, weak_r, strong_r, k=args.folds, shipped=shipped if shipped.meta.get("fitted_ids") else None)
    doc["weak_model"], doc["strong_model"] = tiers.labels["weak"], tiers.labels["strong"]
    doc["prompt_format"] = fmt.key
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(format_table(doc))
    return 0


def format_table(doc: dict[str, Any]) -> str:
    def f(v: Any, pct: bool = False) -> str:
        if v is None:
            return "-"
        return f"{100 * v:.1f}%" if pct else f"{v:.3f}"

    lines = [
        f"route benchmark: {doc['n']} items, weak {doc.get('weak_model', '?')}, strong {doc.get('strong_model', '?')}",
        f"accuracy: weak {f(doc['acc_weak'], True)}, strong {f(doc['acc_strong'], True)}, "
        f"oracle {f(doc['acc_oracle'], True)}; Baton out-of-fold ({doc['folds']} folds)",
        f"{'router':<14}{'APGR':>7}{'CPT50':>8}{'CPT80':>8}{'EPCA J':>9}{'acc@def':>9}{'strong@def':>11}",
    ]
    for name, m in doc["routers"].items():
        note = f"  (fitted on {100 * m['in_sample_share']:.0f}% of these items)" if "in_sample_share" in m else ""
        lines.append(f"{name:<14}{f(m['apgr']):>7}{f(m['cpt50'], True):>8}{f(m['cpt80'], True):>8}"
                     f"{f(m['epca_j']):>9}{f(m['acc_at_default'], True):>9}"
                     f"{f(m['strong_calls_at_default'], True):>11}{note}")
    e = doc["energy"]
    lines.append(f"energy per item: weak {e['weak_j_per_item']} J ({', '.join(e['weak_sources'])}), "
                 f"strong {e['strong_j_per_item']} J ({', '.join(e['strong_sources'])}); {e['note']}")
    return "\n".join(lines)


def format_ladder_table(doc: dict[str, Any]) -> str:
    """The ladder document as a few lines of text: each tier, then the routers' rows."""
    tiers = ", ".join(f"{t['tier']} {100 * t['accuracy']:.1f}% {t['energy_j_per_item']:.1f} J/item" for t in doc["tiers"])
    lines = [f"route benchmark (ladder): {doc['n']} items; {tiers}; oracle {100 * doc['acc_oracle']:.1f}%",
             f"{'router':<22}{'APGR':>7}{'CPT50':>8}{'CPT80':>8}{'EPCA J':>9}{'acc@def':>9}{'last@def':>10}"]

    def f(v: Any, pct: bool = False) -> str:
        return "-" if v is None else (f"{100 * v:.1f}%" if pct else f"{v:.3f}")

    rows = list(doc["routers"].items())
    if "without_verification" in doc:
        rows.append(("baton (verify off)", doc["without_verification"]["routers"]["baton"]))
    for name, m in rows:
        lines.append(f"{name:<22}{f(m['apgr']):>7}{f(m['cpt50'], True):>8}{f(m['cpt80'], True):>8}"
                     f"{f(m['epca_j']):>9}{f(m['acc_at_default'], True):>9}{f(m['strong_calls_at_default'], True):>10}")
    return "\n".join(lines)


# ---- bench speed --------------------------------------------------------------------------------
def register_speed(actions: Any) -> None:
    r = actions.add_parser(
        "speed", help="decode and prefill speed: Baton's pipeline vs bare llama-cpp-python",
        description="Runs Baton's whole pipeline (engine thread, confidence signals, meter, store) and bare "
                    "llama-cpp-python on the same model, threads and context, interleaved in one run, and prints "
                    "the ratio of the medians.")
    r.add_argument("--model", default=None, help="model id, name or .gguf path (default: the default model)")
    r.add_argument("--tokens", type=int, default=128, help="tokens to generate per run (default 128)")
    r.add_argument("--rounds", type=int, default=10, help="at least this many interleaved rounds (default 10)")
    r.add_argument("--max-rounds", type=int, default=60,
                   help="keep adding rounds until the ratio's 95%% interval is 3%% wide, up to this many (default 60)")
    r.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    r.set_defaults(func=run_speed)


def run_speed(args: argparse.Namespace, ctx: Any) -> int:
    from baton.bench.speed import run_speed_bench

    if args.tokens < 2 or args.rounds < 1:
        raise UsageError("--tokens must be at least 2 and --rounds at least 1")
    doc = run_speed_bench(ctx.settings, args.model, args.tokens, args.rounds,
                          progress=lambda s: print(f"bench speed: {s}", file=sys.stderr, flush=True),
                          max_rounds=max(args.rounds, args.max_rounds))
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"decode: Baton {doc['baton_tokens_per_s']} tok/s, bare llama-cpp-python {doc['raw_tokens_per_s']} "
              f"tok/s, ratio {doc['ratio']} (paired median {doc['ratio_paired_median']}, 95% interval "
              f"{doc['ratio_ci95']})\n"
              f"time to first token: Baton {doc['baton_ttft_s'] * 1000:.1f} ms, bare {doc['raw_ttft_s'] * 1000:.1f} ms, "
              f"overhead {doc['ttft_overhead_s'] * 1000:+.1f} ms ({doc['rounds']} rounds x {doc['tokens']} tokens, "
              f"{doc['model']})")
    return 0


# ---- bench threads ------------------------------------------------------------------------------
def register_threads(actions: Any) -> None:
    r = actions.add_parser(
        "threads", help="many threads at once: sequential vs batched through Baton vs a bare llama.cpp batch loop",
        description="Answers N questions one after another through Baton, then all at once through Baton's batched "
                    "engine, then through a plain greedy llama_batch loop on the same model and token counts; "
                    "prints each ratio with a 95% interval, the energy split error, and a thread's time to first "
                    "token cold and warm.")
    r.add_argument("--model", default=None, help="model id, name or .gguf path (default: the default model)")
    r.add_argument("--threads", type=int, default=4, help="threads answered together (default 4)")
    r.add_argument("--tokens", type=int, default=128, help="answer tokens per thread (default 128)")
    r.add_argument("--history-tokens", type=int, default=1600,
                   help="history of the thread timed cold and warm, in tokens (default 1600; 0 skips it)")
    r.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    r.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    r.set_defaults(func=run_threads)


def run_threads(args: argparse.Namespace, ctx: Any) -> int:
    from baton.bench.threads import run_threads_bench

    if args.threads < 1 or args.tokens < 2 or args.rounds < 1 or args.history_tokens < 0:
        raise UsageError("--threads and --rounds must be at least 1, --tokens at least 2, --history-tokens 0 or more")
    doc = run_threads_bench(ctx.settings, args.model, args.threads, args.tokens, args.history_tokens, args.rounds,
                            progress=lambda s: print(f"bench threads: {s}", file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{doc['threads']} threads x {doc['tokens']} tokens on {doc['model']} ({doc['rounds']} rounds):\n"
          f"  one after another {doc['sequential_tokens_per_s']} tok/s, at once {doc['concurrent_tokens_per_s']} "
          f"tok/s: ratio {doc['ratio']} (95% interval {doc['ratio_ci95']})\n"
          f"  bare llama.cpp batch loop {doc['raw_batched_tokens_per_s']} tok/s: ratio {doc['ratio_to_raw']} "
          f"(95% interval {doc['ratio_to_raw_ci95']})\n"
          f"  the bare loop itself gains {doc.get('raw_batching_gain')}x from batching here "
          f"(95% interval {doc.get('raw_batching_gain_ci95')}): the most the machine's kernels give\n"
          f"  J/token {doc['j_per_token_sequential']} one after another, {doc['j_per_token_concurrent']} at once; "
          f"energy split error {doc['energy_split_error']}")
    if doc.get("energy_note"):
        print(f"  note: {doc['energy_note']}")
    if "cold_ttft_s" in doc:
        print(f"  a thread with {doc['history_tokens']} tokens of history: first token {doc['cold_ttft_s'] * 1000:.0f} "
              f"ms cold, {doc['warm_ttft_s'] * 1000:.0f} ms warm ({doc['warm_ratio']}x)")
    return 0
