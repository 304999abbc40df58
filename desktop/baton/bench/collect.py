"""Runs a tier over a benchmark file and caches each item's result, so reruns are instant.

A cache file holds one JSON line per item, keyed by the tier's model, the prompt format, the answer
budget and the temperature (all in the file name); a line also records the question's hash, so an
edited question is run again. Results: the text, whether it was right, the token signals, tokens,
joules (with where the number came from) and seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from baton.core.errors import BatonError, UsageError
from baton.core.router.categorize import last_number, normalize_number
from baton.core.types import ChatMessage, Completion, GenerationRequest

@dataclass(frozen=True)
class PromptFormat:
    """How a benchmark question is put to both tiers. ``key`` names it in cache file names, so a changed
    prompt never reuses old results."""

    name: str
    system: str
    shots: tuple[tuple[str, str], ...] = ()
    key: str = ""

    def messages(self, question: str) -> list[ChatMessage]:
        return [ChatMessage("system", self.system), *(ChatMessage(r, c) for r, c in self.shots),
                ChatMessage("user", question)]


# "fewshot": a short answer that ends with the number, shown by two worked examples (a bare sum, a
# two-step story). "service": exactly what `baton ask` sends (the service's system prompt, no examples),
# so the shipped calibration is fitted on the answers users will get.
FEWSHOT = PromptFormat(
    "fewshot", "Give a short answer that ends with the final number.",
    (("user", "What is 12 + 30?"), ("assistant", "12 + 30 = 42"),
     ("user", "Tom has 3 bags with 4 apples each and eats 2 apples. How many apples are left?"),
     ("assistant", "3 * 4 = 12 apples, 12 - 2 = 10. The answer is 10.")),
    key="p2",
)
PROMPT_FORMATS = ("service", "fewshot")
DEFAULT_PROMPT_FORMAT = "service"


def prompt_format(name: str = DEFAULT_PROMPT_FORMAT) -> PromptFormat:
    if name == "fewshot":
        return FEWSHOT
    if name == "service":
        from baton.core.service import BATON_SYSTEM_PROMPT_FOR_BENCH

        digest = hashlib.sha256(BATON_SYSTEM_PROMPT_FOR_BENCH.encode()).hexdigest()[:8]
        return PromptFormat("service", BATON_SYSTEM_PROMPT_FOR_BENCH, (), key=f"service-{digest}")
    raise UsageError(f"unknown prompt format '{name}'; use one of {', '.join(PROMPT_FORMATS)}")


BENCH_MAX_TOKENS = 256
BENCH_TEMPERATURE = 0.0


def read_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines benchmark file. Raises ``UsageError`` for a
    missing file, a line that is not JSON, one that lacks a ``required`` field, or a repeated ``id``."""
    if not path.is_file():
        raise UsageError(f"no benchmark file at {path}; pass --data FILE.jsonl")
    rows: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path}:{n} is not JSON ({e.msg}); each line must be one JSON object") from None
        missing = [k for k in required if k not in row]
        if missing:
            raise UsageError(f"{path}:{n} lacks {', '.join(missing)}; lines need {', '.join(required)}")
        if str(row["id"]) in seen:
            raise UsageError(f"{path}:{n} repeats id {row['id']}; ids must be unique")
        seen.add(str(row["id"]))
        rows.append((n, row))
    if not rows:
        raise UsageError(f"{path} has no items")
    return rows


def load_items(path: Path, limit: int | None = None) -> list[dict[str, str]]:
    """``{"id","question","answer","tag"}`` lines; blank lines are skipped (errors: ``read_rows``)."""
    items = [{"id": str(row["id"]), "question": str(row["question"]), "answer": str(row["answer"]),
              "tag": str(row.get("tag", ""))} for _, row in read_rows(path, ("id", "question", "answer"))]
    return items[:limit] if limit is not None else items


def is_correct(text: str, answer: str) -> bool:
    """The last number in the reply equals the gold answer (thousands separators removed)."""
    got = last_number(text)
    return got is not None and got == normalize_number(answer)


def bench_messages(question: str, fmt: PromptFormat | None = None) -> list[ChatMessage]:
    return (fmt or prompt_format()).messages(question)


def question_hash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8")).hexdigest()[:16]


@dataclass
class ItemResult:
    id: str
    question_sha: str
    text: str
    correct: bool
    finish_reason: str
    signals: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    energy_j: float
    energy_source: str
    duration_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ItemResult":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


class ResultCache:
    """An append-only JSON-lines file of ``ItemResult``; the last line for an id wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: dict[str, ItemResult] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    r = ItemResult.from_dict(json.loads(line))
                except (json.JSONDecodeError, TypeError):
                    continue  # a line cut by a crash: that item runs again
                self._rows[r.id] = r

    def get(self, item: dict[str, str]) -> ItemResult | None:
        r = self._rows.get(item["id"])
        return r if r is not None and r.question_sha == question_hash(item["question"]) else None

    def put(self, result: ItemResult) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(result)) + "\n")
        self._rows[result.id] = result

    def __len__(self) -> int:
        return len(self._rows)


def cache_file(cache_dir: Path, model_label: str, fmt: PromptFormat | None = None,
               max_tokens: int = BENCH_MAX_TOKENS, temperature: float = BENCH_TEMPERATURE) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_label)[:80]
    key = f"{model_label}|{(fmt or prompt_format()).key}|{max_tokens}|{temperature:g}"
    return cache_dir / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}.jsonl"


Runner = Callable[[dict[str, str]], ItemResult]


def collect(items: list[dict[str, str]], run: Runner, cache: ResultCache,
            progress: Callable[[int, int, ItemResult, bool], None] | None = None) -> list[ItemResult]:
    """Every item's result, from the cache or by running it (and caching it at once)."""
    out: list[ItemResult] = []
    for i, item in enumerate(items):
        r = cache.get(item)
        cached = r is not None
        if r is None:
            r = run(item)
            cache.put(r)
        out.append(r)
        if progress is not None:
            progress(i + 1, len(items), r, cached)
    return out


def _finish(item: dict[str, str], c: Completion, energy_j: float, source: str, duration_s: float,
            extra: dict[str, Any] | None = None) -> ItemResult:
    # a code item (``tests``, no ``answer``) is graded later by running its tests in the sandbox
    right = is_correct(c.text, item["answer"]) if "answer" in item else False
    return ItemResult(item["id"], question_hash(item["question"]), c.text, right,
                      c.finish_reason, c.signals.as_dict(), c.usage.prompt_tokens, c.usage.completion_tokens,
                      float(energy_j), source, duration_s, extra or {})


def _drain(chunks: Iterator[Any], on_first: Callable[[], None] | None = None) -> Completion:
    completion = None
    first = True
    for ch in chunks:
        if ch.text and first and on_first is not None:
            on_first()
            first = False
        if ch.completion is not None:
            completion = ch.completion
    if completion is None:
        raise BatonError("the tier stopped without finishing its answer; run the benchmark again to retry")
    return completion


def local_runner(engine: Any, meter: Any, max_tokens: int = BENCH_MAX_TOKENS,
                 fmt: PromptFormat | None = None) -> Runner:
    """The weak tier through our engine, metered like a receipt (every part of the measurement summed)."""

    def run(item: dict[str, str]) -> ItemResult:
        request = GenerationRequest(bench_messages(item["question"], fmt), max_tokens=max_tokens,
                                    temperature=BENCH_TEMPERATURE, seed=0)
        t0 = time.perf_counter()
        window = meter.begin()
        try:
            completion = _drain(engine.stream(request), window.first_token)
        finally:
            measurement = window.end()
        sources = sorted({p.source for p in measurement.parts}) or ["unavailable"]
        return _finish(item, completion, measurement.total_j, "+".join(sources), time.perf_counter() - t0)

    return run


def remote_runner(client: Any, max_tokens: int = BENCH_MAX_TOKENS, fmt: PromptFormat | None = None,
                  process_estimate: Any = None) -> Runner:
    """The strong tier through the cloud client (``CloudClient``: ``stream``, ``energy_part``, ``endpoint``).

    Joules: the endpoint's J/token estimate when it has one (source ``estimated:j_per_token``); else, for a server
    this benchmark started on this machine (``process_estimate``: a ``CpuEstimate`` fed with that process's CPU
    time), the CPU power model over the item's run (``estimated:server_cpu_time``). Raises ``BatonError`` when the
    stream ends without a finished answer, ``CloudError`` when the endpoint fails."""

    def run(item: dict[str, str]) -> ItemResult:
        request = GenerationRequest(bench_messages(item["question"], fmt), max_tokens=max_tokens,
                                    temperature=BENCH_TEMPERATURE, seed=0)
        t0 = time.perf_counter()
        e0 = process_estimate.read_energy_j() if process_estimate is not None else 0.0
        completion = _drain(client.stream(request))
        duration = time.perf_counter() - t0
        estimate_j = float(client.energy_part(completion.usage).energy_j)
        extra = {"j_per_token_energy_j": estimate_j}
        if client.endpoint.j_per_token > 0 or process_estimate is None:
            return _finish(item, completion, estimate_j, "estimated:j_per_token", duration, extra)
        energy = process_estimate.read_energy_j() - e0
        return _finish(item, completion, energy, "estimated:server_cpu_time", duration, extra)

    return run


def process_cpu_seconds(pid: int) -> Callable[[], float]:
    """CPU seconds (user + system) another process has used so far."""
    import psutil

    proc = psutil.Process(pid)
    lock = threading.Lock()

    def read() -> float:
        with lock:
            t = proc.cpu_times()
            return float(t.user + t.system)

    return read
