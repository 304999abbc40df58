"""How routers are measured: RouteLLM's APGR and CPT, plus energy per correct answer (EPCA).

Pure numpy over per-item outcomes of two tiers; no model runs here (``collect`` caches those).

Definitions (``n`` items, a router sends a share ``c`` of them to the strong tier):
- ``acc(c)``: accuracy of the answers the router returns.
- ``PGR(c) = (acc(c) - acc_weak) / (acc_strong - acc_weak)``: performance gap recovered (not capped).
- ``APGR``: the area under PGR over ``c`` in [0, 1], trapezoids between the router's operating points
  (a straight line between two points is what breaking ties at random gives).
- ``CPT(x)``: the smallest share of strong calls whose PGR reaches ``x`` (on the same lines).
- ``EPCA``: all the joules every tier spent over the items, divided by the number of correct answers.

Baton's router is a cascade: the weak tier answers first (unless stage one skips it) and the strong
tier runs when the verdict escalates, so an escalated item pays for both tiers. ``random`` and
``oracle`` are routers in RouteLLM's sense: each item goes to one tier only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Outcomes:
    """Per-item results of both tiers, aligned by index."""

    weak_correct: np.ndarray  # bool
    strong_correct: np.ndarray  # bool
    weak_energy_j: np.ndarray
    strong_energy_j: np.ndarray

    def __post_init__(self) -> None:
        self.weak_correct = np.asarray(self.weak_correct, dtype=bool)
        self.strong_correct = np.asarray(self.strong_correct, dtype=bool)
        self.weak_energy_j = np.asarray(self.weak_energy_j, dtype=float)
        self.strong_energy_j = np.asarray(self.strong_energy_j, dtype=float)
        n = len(self.weak_correct)
        if not (len(self.strong_correct) == len(self.weak_energy_j) == len(self.strong_energy_j) == n):
            raise ValueError("outcome arrays must have the same length")

    @property
    def n(self) -> int:
        return len(self.weak_correct)

    @property
    def acc_weak(self) -> float:
        return float(self.weak_correct.mean()) if self.n else 0.0

    @property
    def acc_strong(self) -> float:
        return float(self.strong_correct.mean()) if self.n else 0.0

    @property
    def acc_oracle(self) -> float:
        return float((self.weak_correct | self.strong_correct).mean()) if self.n else 0.0

    def subset(self, idx: np.ndarray) -> "Outcomes":
        return Outcomes(self.weak_correct[idx], self.strong_correct[idx], self.weak_energy_j[idx],
                        self.strong_energy_j[idx])


@dataclass
class Point:
    """One operating point of a router."""

    strong_share: float
    accuracy: float
    energy_j: float  # total over all items
    correct: float  # number of correct answers (expected value for random)

    @property
    def epca_j(self) -> float | None:
        return self.energy_j / self.correct if self.correct > 0 else None


def cascade_point(o: Outcomes, escalate: np.ndarray, skip: np.ndarray | None = None) -> Point:
    """A cascade: the weak tier runs on every item not skipped; escalated (or skipped) items also run strong."""
    skip = np.zeros(o.n, dtype=bool) if skip is None else np.asarray(skip, dtype=bool)
    to_strong = np.asarray(escalate, dtype=bool) | skip
    correct = np.where(to_strong, o.strong_correct, o.weak_correct)
    energy = np.where(skip, 0.0, o.weak_energy_j) + np.where(to_strong, o.strong_energy_j, 0.0)
    n = max(o.n, 1)
    return Point(float(to_strong.sum() / n), float(correct.sum() / n), float(energy.sum()), float(correct.sum()))


def routed_point(o: Outcomes, to_strong: np.ndarray) -> Point:
    """A router: each item runs on exactly one tier."""
    to_strong = np.asarray(to_strong, dtype=bool)
    correct = np.where(to_strong, o.strong_correct, o.weak_correct)
    energy = np.where(to_strong, o.strong_energy_j, o.weak_energy_j)
    n = max(o.n, 1)
    return Point(float(to_strong.sum() / n), float(correct.sum() / n), float(energy.sum()), float(correct.sum()))


def random_point(o: Outcomes, share: float) -> Point:
    """The expected value of routing each item to strong with probability ``share`` (not one draw)."""
    correct = (1 - share) * o.weak_correct.sum() + share * o.strong_correct.sum()
    energy = (1 - share) * o.weak_energy_j.sum() + share * o.strong_energy_j.sum()
    n = max(o.n, 1)
    return Point(float(share), float(correct / n), float(energy), float(correct))


def oracle_order(o: Outcomes) -> np.ndarray:
    """Item indices in the order an oracle sends them to strong: first those only strong gets right, then
    those where the tiers agree (cheaper strong first), last those only weak gets right."""
    gain = o.strong_correct.astype(int) - o.weak_correct.astype(int)  # +1, 0, -1
    saving = o.weak_energy_j - o.strong_energy_j
    return np.lexsort((-saving, -gain))


def oracle_point(o: Outcomes, share: float) -> Point:
    k = int(round(share * o.n))
    to_strong = np.zeros(o.n, dtype=bool)
    to_strong[oracle_order(o)[:k]] = True
    return routed_point(o, to_strong)


# ---- curves ----------------------------------------------------------------------------------------
def pgr(o: Outcomes, accuracy: float) -> float:
    gap = o.acc_strong - o.acc_weak
    if abs(gap) < 1e-12:
        return 0.0
    return (accuracy - o.acc_weak) / gap


def _curve_metrics(o: Outcomes, points: list[Point]) -> dict[str, float | None]:
    pts = sorted({(round(p.strong_share, 12), p.accuracy) for p in points})
    # keep the best accuracy at each share (the curve is the router's frontier at that share)
    best: dict[float, float] = {}
    for c, a in pts:
        best[c] = max(best.get(c, -1.0), a)
    best.setdefault(0.0, o.acc_weak)
    best.setdefault(1.0, o.acc_strong)
    cs = np.array(sorted(best))
    ys = np.array([pgr(o, best[c]) for c in cs])
    apgr = float(np.sum((cs[1:] - cs[:-1]) * (ys[1:] + ys[:-1]) / 2)) if len(cs) > 1 else 0.0
    return {"apgr": apgr, "cpt50": _cpt(cs, ys, 0.5), "cpt80": _cpt(cs, ys, 0.8)}


def _cpt(cs: np.ndarray, ys: np.ndarray, target: float) -> float | None:
    """Smallest share where the piecewise-linear PGR curve reaches ``target``."""
    if ys[0] >= target:
        return float(cs[0])
    for i in range(1, len(cs)):
        if ys[i] >= target:
            y0, y1 = ys[i - 1], ys[i]
            frac = (target - y0) / (y1 - y0) if y1 != y0 else 1.0
            return float(cs[i - 1] + frac * (cs[i] - cs[i - 1]))
    return None


def threshold_candidates(*scores: np.ndarray) -> np.ndarray:
    vals = np.unique(np.concatenate([np.asarray(s, dtype=float).ravel() for s in scores]))
    return np.concatenate([[-np.inf], vals, [np.inf]])


def cascade_decisions(keep_prompt: np.ndarray, keep_answer: np.ndarray, threshold: float | np.ndarray,
                      hopeless: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Baton's rule at one threshold. ``keep_*`` are keep-local scores (higher: keep local) from the
    prompt alone and from the answer; an item is escalated when its answer's score is under the threshold,
    and the weak tier is skipped altogether when the item is ``hopeless`` (stage one) and its prompt's score
    is already under the threshold. Both sets grow with the threshold, so the operating points are nested."""
    keep_prompt = np.asarray(keep_prompt, dtype=float)
    hopeless = np.zeros(len(keep_prompt), dtype=bool) if hopeless is None else np.asarray(hopeless, dtype=bool)
    skip = hopeless & (keep_prompt < threshold)
    escalate = skip | (np.asarray(keep_answer, dtype=float) < threshold)
    return escalate, skip


def cascade_curve(o: Outcomes, keep_prompt: np.ndarray, keep_answer: np.ndarray,
                  hopeless: np.ndarray | None = None) -> list[tuple[float, Point]]:
    """Operating points of the cascade over every threshold that changes a decision."""
    out = []
    for t in threshold_candidates(keep_prompt, keep_answer):
        # a threshold just above each score value: "escalate when score <= value"
        tt = np.nextafter(t, np.inf) if np.isfinite(t) else t
        esc, skip = cascade_decisions(keep_prompt, keep_answer, tt, hopeless)
        out.append((float(tt), cascade_point(o, esc, skip)))
    return out


def score_cascade(o: Outcomes, keep_prompt: np.ndarray, keep_answer: np.ndarray, threshold: float | np.ndarray,
                  hopeless: np.ndarray | None = None) -> dict[str, float | None]:
    """APGR/CPT of the cascade over all thresholds, and the numbers at the given (default) threshold
    (per item when an array: out-of-fold, each item is judged with its own fold's threshold)."""
    curve = cascade_curve(o, keep_prompt, keep_answer, hopeless)
    metrics = _curve_metrics(o, [p for _, p in curve])
    esc, skip = cascade_decisions(keep_prompt, keep_answer, threshold, hopeless)
    at = cascade_point(o, esc, skip)
    metrics.update(_at_default(at))
    metrics["skipped_local_at_default"] = float(skip.mean()) if o.n else 0.0
    return metrics


def _at_default(p: Point) -> dict[str, float | None]:
    return {"epca_j": p.epca_j, "acc_at_default": p.accuracy, "strong_calls_at_default": p.strong_share,
            "energy_j_at_default": p.energy_j}


def score_reference_routers(o: Outcomes, share: float) -> dict[str, dict[str, float | None]]:
    """random, oracle, always_local and always_strong; random and oracle at ``share`` strong calls."""
    n = o.n
    shares = np.linspace(0.0, 1.0, n + 1) if n else np.array([0.0, 1.0])
    oracle_curve = [oracle_point(o, s) for s in shares]
    oracle = _curve_metrics(o, oracle_curve)
    oracle.update(_at_default(oracle_point(o, share)))
    rnd = {"apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8}
    rnd.update(_at_default(random_point(o, share)))
    local = {"apgr": None, "cpt50": None, "cpt80": None}
    local.update(_at_default(routed_point(o, np.zeros(n, dtype=bool))))
    strong = {"apgr": None, "cpt50": 1.0, "cpt80": 1.0}
    strong.update(_at_default(routed_point(o, np.ones(n, dtype=bool))))
    return {"random": rnd, "oracle": oracle, "always_local": local, "always_strong": strong}
