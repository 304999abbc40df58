"""Scoring a ladder of tiers (`baton bench route --tiers A,B,C`): APGR, CPT and energy per correct answer.

Pure numpy over cached, graded per-item results; no model runs here.

The cost axis is RouteLLM's with the last tier as "strong": the share of items the ladder answers with its last
tier (a middle tier counts as local). ``acc_weak`` is the first tier alone and ``acc_strong`` the last alone, the two
ends of PGR. Baton's ladder walks each item: stage one starts at the first tier or, when it is hopeless for the
question, at the second; at each step below the last it climbs when ``p_answer - p_next`` is under the step's line
(``-margin`` for the question's category; the ladder's default line for code is chosen by ``choose_line`` on an inner
k-fold). The curve sweeps one common line for every step. Every tier that ran for an item counts in its joules. Each
step's calibration is fitted on the pair (tier s, tier s + 1) with ``fit.fit_calibration``, out of fold: no item is
scored by a model that saw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from baton.bench.evaluate import Outcomes, Point, _curve_metrics, oracle_point, random_point, routed_point
from baton.bench.fit import FitOptions, auc, fit_calibration, kfold
from baton.bench.route import choose_operating_point
from baton.core.router.ladder import hopeless_kind
from baton.core.router.scoring import Calibration


@dataclass
class LadderData:
    """Per-item inputs of a ladder, aligned by index: ``correct[s][i]`` and ``energy_j[s][i]`` of tier ``s`` (Units:
    joules), ``rows[s][i]`` the router's features of tier ``s``'s answer to item ``i`` (prompt and answer),
    ``categories[i]``."""

    correct: np.ndarray  # (tiers, n) bool
    energy_j: np.ndarray  # (tiers, n) float
    rows: list[list[dict[str, float]]]
    categories: list[str]

    @property
    def tiers(self) -> int:
        return int(self.correct.shape[0])

    @property
    def n(self) -> int:
        return int(self.correct.shape[1])

    def ends(self) -> Outcomes:
        """The first and the last tier as a two-tier ``Outcomes`` (the ends of PGR)."""
        return Outcomes(self.correct[0], self.correct[-1], self.energy_j[0], self.energy_j[-1])

    def pair(self, s: int) -> Outcomes:
        return Outcomes(self.correct[s], self.correct[s + 1], self.energy_j[s], self.energy_j[s + 1])

    def subset(self, idx: np.ndarray) -> "LadderData":
        return LadderData(self.correct[:, idx], self.energy_j[:, idx], [[r[i] for i in idx] for r in self.rows],
                          [self.categories[i] for i in idx])


@dataclass
class LadderScores:
    """Per-step scores of every item: ``keep[s]`` = p_answer - p_next of tier ``s``'s answer, ``line[s]`` the
    default climbing line (-margin), ``hopeless`` where stage one may skip the first tier, ``keep_prompt`` = the
    first step's p_prompt - p_next, ``p_answer[s]`` for calibration quality, ``hopeless_kind`` where the first tier
    is skipped for the kind of question alone."""

    keep: np.ndarray  # (tiers - 1, n)
    line: np.ndarray  # (tiers - 1, n): per item (out of fold: its fold's margin)
    hopeless: np.ndarray  # (n,) bool
    keep_prompt: np.ndarray  # (n,)
    p_answer: np.ndarray  # (tiers - 1, n)
    hopeless_kind: np.ndarray | None = None  # (n,) bool: skipped whatever the line (``ladder.hopeless_kind``)


def walk(d: LadderData, sc: LadderScores, line: float | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The tier each item ends on and whether it skipped the first: at each step an item climbs when its keep score
    is under the line: the item's own default line (``sc.line``), or ``line``: one for every step (a float) or
    one per step (an array of ``tiers - 1``)."""
    if line is None:
        lines = sc.line
    else:
        lines = np.broadcast_to(np.asarray(line, dtype=float).reshape(-1, 1), sc.line.shape)
    skip = sc.hopeless & (sc.keep_prompt < lines[0])
    if sc.hopeless_kind is not None:
        skip = skip | sc.hopeless_kind
    end = np.where(skip, 1, 0)
    for s in range(d.tiers - 1):
        climbing = (end == s) & (sc.keep[s] < lines[s])
        end = np.where(climbing, s + 1, end)
    return end, skip


def ladder_point(d: LadderData, end: np.ndarray, skip: np.ndarray) -> Point:
    """The operating point of a walk: share ending on the last tier, accuracy, joules of every tier that ran."""
    idx = np.arange(d.n)
    correct = d.correct[end, idx]
    ran = (np.arange(d.tiers)[:, None] <= end[None, :]) & ~((np.arange(d.tiers)[:, None] == 0) & skip[None, :])
    energy = float((d.energy_j * ran).sum())
    n = max(d.n, 1)
    return Point(float((end == d.tiers - 1).sum() / n), float(correct.sum() / n), energy, float(correct.sum()))


def ladder_curve(d: LadderData, sc: LadderScores) -> list[Point]:
    """Operating points over one common line for every step (from never climbing to always climbing): the keep
    scores are comparable across folds, the per-fold default lines are not."""
    return [ladder_point(d, *walk(d, sc, t)) for t in _lines(sc)]


EPCA_SAVING = 0.0  # how much less per correct answer than either end alone the default walk must cost (share)


def _lines(sc: LadderScores) -> np.ndarray:
    """Every common line that changes a decision, as midpoints between neighbouring keep scores (sturdier on new
    items), from never climbing (-inf) to always climbing."""
    vals = np.unique(np.concatenate([sc.keep.ravel(), sc.keep_prompt]))
    mids = (vals[1:] + vals[:-1]) / 2 if len(vals) > 1 else np.array([])
    return np.concatenate([[-np.inf], [vals[0] - 1e-6] if len(vals) else [], mids, [vals[-1] + 1e-6] if len(vals) else []])


def choose_line(d: LadderData, sc: LadderScores) -> np.ndarray:
    """The default lines on (training) items, one per step: the most accurate walk whose energy per correct answer
    is below both always-first and always-last by ``EPCA_SAVING`` at least (ties: the cheaper; the items are out of
    fold, so the choice holds on new items); where no walk saves that much, the cheapest per correct answer among the walks at least
    as accurate as the best tier alone (the ladder then buys accuracy, not joules); failing that, the most accurate.
    Searched as one common line first, then each step's line in turn with the others held. Returns the lines
    (climb when ``p_answer - p_next`` is under the step's); ``apply_line`` makes them the steps' margins for the
    categories fitted, so other kinds of questions keep their own."""
    ends = [(d.energy_j[s].sum(), d.correct[s].sum()) for s in (0, d.tiers - 1)]
    limit = (1.0 - EPCA_SAVING) * min((e / c for e, c in ends if c), default=float("inf"))
    best_single = max(float(d.correct[s].mean()) for s in range(d.tiers)) if d.n else 0.0

    def rank(p: Point) -> tuple[int, float, float]:
        if p.epca_j is not None and p.epca_j < limit:
            return 2, round(p.accuracy, 9), -p.energy_j
        if p.epca_j is not None and p.accuracy >= best_single - 1e-9:
            return 1, -p.epca_j, p.accuracy
        return 0, round(p.accuracy, 9), -p.energy_j

    def point(lines: np.ndarray) -> Point:
        return ladder_point(d, *walk(d, sc, lines))

    steps = d.tiers - 1
    cands = [np.clip(t, -2.0, 2.0) for t in _lines(sc)]  # keep scores lie in [-1, 1]
    lines = np.full(steps, max(cands, key=lambda t: rank(point(np.full(steps, t)))))
    for s in range(steps):
        per_step = [np.clip(t, -2.0, 2.0) for t in _lines(LadderScores(sc.keep[s:s + 1], sc.line[s:s + 1],
                                                                       sc.hopeless, sc.keep_prompt, sc.p_answer,
                                                                       sc.hopeless_kind))]
        best = lines[s]
        for t in per_step:
            trial = lines.copy()
            trial[s] = t
            if rank(point(trial)) > rank(point(np.where(np.arange(steps) == s, best, lines))):
                best = t
        lines[s] = best
    return lines


def fit_steps(d: LadderData, options: FitOptions | None = None, walk_default: bool = True) -> list[Calibration]:
    """One calibration per step, fitted on the pair (tier s, tier s + 1) of ``d``'s items; with ``walk_default`` the
    steps' margins for the categories of ``d`` then become the ladder's default line on these items (``choose_line``
    on an inner k-fold's scores, ``apply_line``)."""
    cals = []
    for s in range(d.tiers - 1):
        o = d.pair(s)
        cals.append(fit_calibration(d.rows[s], d.categories, o.weak_correct, o.strong_correct,
                                    choose_operating_point(o), options))
    if walk_default and d.tiers > 2:
        # chosen on out-of-fold scores of these items (an inner k-fold), never on in-sample ones
        inner = out_of_fold(d, (options or FitOptions()).inner_folds, (options or FitOptions()).seed + 1, options,
                            walk_default=False)
        apply_line(cals, set(d.categories), choose_line(d, inner))
    return cals


def apply_line(cals: list[Calibration], categories: set[str], lines: np.ndarray) -> None:
    """Make ``lines[s]`` step ``s``'s line for ``categories`` (its ``category_margins`` = -line; the shared margin
    stays for other questions)."""
    for cal, line in zip(cals, lines):
        for cat in categories:
            cal.category_margins[cat] = float(-line)


def scores_from(cals: list[Calibration], d: LadderData) -> LadderScores:
    """Each step's scores of ``d``'s items under ``cals`` (the last calibration serves steps past its ladder)."""
    steps = d.tiers - 1
    keep, line, pa = np.zeros((steps, d.n)), np.zeros((steps, d.n)), np.zeros((steps, d.n))
    hopeless, keep_prompt = np.zeros(d.n, dtype=bool), np.zeros(d.n)
    for s in range(steps):
        cal = cals[min(s, len(cals) - 1)]
        p1, p2, ps = cal.batch(d.rows[s], d.categories)
        keep[s], pa[s] = p2 - ps, p2
        line[s] = [-cal.margin_for(c) for c in d.categories]
        if s == 0:
            hopeless, keep_prompt = p1 < cal.skip_below, p1 - ps
            kind = np.array([hopeless_kind(cal, c, float(p)) for c, p in zip(d.categories, p1)], dtype=bool)
    return LadderScores(keep, line, hopeless, keep_prompt, pa, kind)


def out_of_fold(d: LadderData, k: int = 5, seed: int = 0, options: FitOptions | None = None,
                walk_default: bool = True) -> LadderScores:
    """Every item scored by step calibrations fitted on the other folds (stratified on the last tier's labels)."""
    steps = d.tiers - 1
    keep, line, pa = np.zeros((steps, d.n)), np.zeros((steps, d.n)), np.zeros((steps, d.n))
    hopeless, keep_prompt, kind = np.zeros(d.n, dtype=bool), np.zeros(d.n), np.zeros(d.n, dtype=bool)
    for train, test in kfold(d.correct[-1], max(2, min(k, d.n)), seed):
        sc = scores_from(fit_steps(d.subset(train), options, walk_default), d.subset(test))
        keep[:, test], line[:, test], pa[:, test] = sc.keep, sc.line, sc.p_answer
        hopeless[test], keep_prompt[test] = sc.hopeless, sc.keep_prompt
        kind[test] = sc.hopeless_kind
    return LadderScores(keep, line, hopeless, keep_prompt, pa, kind)


def _round(m: dict[str, Any], nd: int = 4) -> dict[str, Any]:
    return {k: (round(v, nd) if isinstance(v, float) else v) for k, v in m.items()}


def _at(p: Point) -> dict[str, Any]:
    return {"epca_j": p.epca_j, "acc_at_default": p.accuracy, "strong_calls_at_default": p.strong_share,
            "energy_j_at_default": p.energy_j}


def score_ladder(d: LadderData, sc: LadderScores) -> dict[str, Any]:
    """Baton's row: APGR/CPT over the curve, and the default point (with how many items each tier answered)."""
    o = d.ends()
    metrics = _curve_metrics(o, ladder_curve(d, sc))
    end, skip = walk(d, sc)
    metrics.update(_at(ladder_point(d, end, skip)))
    metrics["skipped_first_at_default"] = float(skip.mean()) if d.n else 0.0
    metrics["answered_by_tier_at_default"] = [float((end == s).mean()) for s in range(d.tiers)]
    return _round(metrics)


def reference_routers(d: LadderData, share: float) -> dict[str, dict[str, Any]]:
    """random (first or last tier at ``share``), oracle (the cheapest right tier; curve over last-tier share),
    and each tier alone."""
    o = d.ends()
    out: dict[str, dict[str, Any]] = {}
    rnd = {"apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8}
    rnd.update(_at(random_point(o, share)))
    out["random"] = _round(rnd)
    # oracle: an item goes to the cheapest tier below the last that gets it right (the first when none does); at a
    # share k/n of last-tier calls the k items sent up are first those only the last tier gets right
    last = d.tiers - 1
    below = d.correct[:last]
    base = np.where(below.any(axis=0), below.argmax(axis=0), 0)
    order = np.argsort(~(d.correct[last] & ~below.any(axis=0)), kind="stable")
    shares = np.linspace(0.0, 1.0, d.n + 1) if d.n else np.array([0.0, 1.0])
    oracle_pts = []
    for s in shares:
        end = base.copy()
        end[order[: int(round(s * d.n))]] = last
        oracle_pts.append(_routed(d, end))
    orc = _curve_metrics(o, oracle_pts)
    orc.update(_at(oracle_pts[int(round(share * d.n))] if d.n else oracle_point(o, share)))
    out["oracle"] = _round(orc)
    for s in range(d.tiers):
        p = _routed(d, np.full(d.n, s))
        name = "always_first" if s == 0 else ("always_last" if s == d.tiers - 1 else f"always_tier{s + 1}")
        out[name] = _round({"apgr": None, "cpt50": None, "cpt80": None, **_at(p)})
    out["always_local"], out["always_strong"] = out["always_first"], out["always_last"]
    return out


def _routed(d: LadderData, end: np.ndarray) -> Point:
    """Each item runs on exactly one tier (``end``)."""
    idx = np.arange(d.n)
    correct = d.correct[end, idx]
    n = max(d.n, 1)
    return Point(float((end == d.tiers - 1).sum() / n), float(correct.sum() / n), float(d.energy_j[end, idx].sum()),
                 float(correct.sum()))


def ladder_document(d: LadderData, labels: list[str], k: int = 5, seed: int = 0,
                    shipped: list[Calibration] | None = None, in_sample_share: float | None = None) -> dict[str, Any]:
    """The CONTRACT document for a ladder: ends, per-tier table, Baton out of fold, reference routers, the shipped
    calibrations' row (``in_sample_share``: the share of these items they were fitted on)."""
    sc = out_of_fold(d, k, seed)
    baton = score_ladder(d, sc)
    routers: dict[str, Any] = {"baton": baton}
    routers.update(reference_routers(d, float(baton["strong_calls_at_default"])))
    if shipped:
        row = score_ladder(d, scores_from(shipped, d))
        if in_sample_share is not None:
            row["in_sample_share"] = round(in_sample_share, 4)
        routers["baton_shipped"] = row
    o = d.ends()
    quality = {f"step{s + 1}_auc": (lambda a: None if a is None else round(a, 4))(auc(sc.p_answer[s], d.correct[s]))
               for s in range(d.tiers - 1)}
    return {
        "n": d.n, "acc_weak": round(o.acc_weak, 4), "acc_strong": round(o.acc_strong, 4),
        "acc_oracle": round(float(d.correct.any(axis=0).mean()), 4), "routers": routers,
        "tiers": [{"tier": lab, "accuracy": round(float(d.correct[s].mean()), 4),
                   "energy_j_per_item": round(float(d.energy_j[s].mean()), 3)} for s, lab in enumerate(labels)],
        "folds": k, "calibration": quality,
    }
