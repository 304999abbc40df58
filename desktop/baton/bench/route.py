"""`baton bench route`'s scoring: cached tier results in, the CONTRACT's table out.

Baton's router is scored out-of-fold: the items are split into k stratified folds; for each fold the
score models, the default margin and the skip level are fitted on the other folds only (the margin and
skip level on an inner k-fold of those, see ``fit.fit_calibration``), then the held-out fold is
scored. No item is ever scored by a model that saw it.

The router escalates when ``p_answer < p_strong - margin``; the sweep over the margin gives the APGR/CPT
curve. Default margin: among the operating points (on the training items) that recover at least 95% of
the strong tier's gain (PGR >= 0.95) and whose energy per correct answer beats both always-local and
always-strong, the one with the lowest energy per correct answer; when there is none, the most accurate
point that still beats both; failing that, the cheapest per correct answer. Stage one skips the local
model when its prompt-only probability is under ``weak J / strong J`` (mean per item) and the prompt
alone already puts it under the escalation line: trying local only pays when its chance of being good
beats what the try costs relative to the strong tier.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from baton.bench.collect import ItemResult
from baton.bench.evaluate import (Outcomes, cascade_curve, pgr, score_cascade, score_reference_routers,
                                  threshold_candidates)
from baton.bench.fit import FitOptions, auc, fit_calibration, kfold, log_loss
from baton.core.router.categorize import categorize
from baton.core.router.features import answer_features, prompt_vector
from baton.core.router.scoring import Calibration


QUALITY_TARGET_PGR = 0.95  # the default keeps 95% of what always-strong would add over always-local


def item_features(items: list[dict[str, str]], weak: list[ItemResult]) -> tuple[list[dict[str, float]], list[str]]:
    rows, cats = [], []
    for item, w in zip(items, weak):
        f = prompt_vector(item["question"])
        f.update(answer_features(item["question"], w.text, w.finish_reason, w.signals))
        rows.append(f)
        cats.append(categorize(item["question"]))
    return rows, cats


def skip_level(o: Outcomes) -> float:
    ew = float(np.mean(o.weak_energy_j)) if o.n else 0.0
    es = float(np.mean(o.strong_energy_j)) if o.n else 0.0
    if es <= 0:
        return 0.0
    return float(np.clip(ew / es, 0.02, 0.5))


def choose_operating_point(o: Outcomes):  # noqa: ANN201 - returns the chooser fit_calibration calls
    """The default-margin rule above, on training items whose outcomes are ``o`` (aligned with the scores)."""

    def choose(p1: np.ndarray, p2: np.ndarray, ps: np.ndarray) -> tuple[float, float]:
        skip = skip_level(o)
        k1, k2, hopeless = p1 - ps, p2 - ps, p1 < skip
        curve = cascade_curve(o, k1, k2, hopeless)
        limits = [e / c for e, c in ((o.weak_energy_j.sum(), o.weak_correct.sum()),
                                     (o.strong_energy_j.sum(), o.strong_correct.sum())) if c]
        limit = min(limits) if limits else float("inf")
        scored = [(i, p) for i, (_, p) in enumerate(curve) if p.epca_j is not None]
        cheaper = [(i, p) for i, p in scored if p.epca_j < limit]
        good = [(i, p) for i, p in cheaper if pgr(o, p.accuracy) >= QUALITY_TARGET_PGR]
        if good:  # good enough: the cheapest per correct answer
            best = min(good, key=lambda ip: (ip[1].epca_j, -ip[1].accuracy))[0]
        elif cheaper:  # else the most accurate that still beats both fixed tiers
            best = max(cheaper, key=lambda ip: (round(ip[1].accuracy, 9), -ip[1].energy_j))[0]
        elif scored:
            best = min(scored, key=lambda ip: ip[1].epca_j)[0]
        else:
            best = 0
        values = threshold_candidates(k1, k2)
        lo, hi = values[best], values[min(best + 1, len(values) - 1)]
        if np.isfinite(lo) and np.isfinite(hi):
            t = (lo + hi) / 2  # midway to the next score: the same decisions here, sturdier on new items
        elif np.isfinite(lo):
            t = lo + 1e-6
        else:
            t = -1.0
        return float(-t), skip

    return choose


def outcomes_of(weak: list[ItemResult], strong: list[ItemResult]) -> Outcomes:
    return Outcomes([w.correct for w in weak], [s.correct for s in strong], [w.energy_j for w in weak],
                    [s.energy_j for s in strong])


def out_of_fold(items: list[dict[str, str]], weak: list[ItemResult], strong: list[ItemResult], k: int = 5,
                seed: int = 0, options: FitOptions | None = None) -> dict[str, np.ndarray]:
    rows, cats = item_features(items, weak)
    o = outcomes_of(weak, strong)
    n = len(items)
    p1, p2, ps, margin, skip = np.ones(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    k = max(2, min(k, n))
    for train, test in kfold(o.weak_correct, k, seed):
        cal = fit_calibration([rows[i] for i in train], [cats[i] for i in train], o.weak_correct[train],
                              o.strong_correct[train], choose_operating_point(o.subset(train)), options)
        p1[test], p2[test], ps[test] = cal.batch([rows[i] for i in test], [cats[i] for i in test])
        margin[test], skip[test] = cal.margin, cal.skip_below
    return {"p_prompt": p1, "p_answer": p2, "p_strong": ps, "margin": margin, "skip_below": skip}


def fit_all(items: list[dict[str, str]], weak: list[ItemResult], strong: list[ItemResult],
            options: FitOptions | None = None) -> Calibration:
    """The calibration to ship: fitted on every item (its numbers are reported out-of-fold elsewhere)."""
    rows, cats = item_features(items, weak)
    o = outcomes_of(weak, strong)
    cal = fit_calibration(rows, cats, o.weak_correct, o.strong_correct, choose_operating_point(o), options)
    cal.meta["fitted_ids"] = sorted(id_digest(it["id"]) for it in items)
    return cal


def cascade_scores(p1: np.ndarray, p2: np.ndarray, ps: np.ndarray, margin: float | np.ndarray,
                   skip_below: float | np.ndarray) -> dict[str, Any]:
    """Scores in the form ``evaluate.score_cascade`` takes: keep-local scores, threshold, hopeless items."""
    return {"keep_prompt": p1 - ps, "keep_answer": p2 - ps, "threshold": -np.asarray(margin, dtype=float),
            "hopeless": p1 < skip_below}


def id_digest(item_id: str) -> str:
    return hashlib.sha256(item_id.encode()).hexdigest()[:8]


def _round(d: dict[str, Any], nd: int = 4) -> dict[str, Any]:
    return {k: (round(v, nd) if isinstance(v, float) else v) for k, v in d.items()}


def score(items: list[dict[str, str]], weak: list[ItemResult], strong: list[ItemResult], k: int = 5,
          seed: int = 0, shipped: Calibration | None = None) -> dict[str, Any]:
    """The CONTRACT document, plus details (per tag, calibration quality, energy sources)."""
    o = outcomes_of(weak, strong)
    oof = out_of_fold(items, weak, strong, k, seed)
    baton = score_cascade(o, **cascade_scores(oof["p_prompt"], oof["p_answer"], oof["p_strong"], oof["margin"],
                                              oof["skip_below"]))
    routers: dict[str, Any] = {"baton": _round(baton)}
    routers.update({name: _round(m) for name, m in score_reference_routers(o, baton["strong_calls_at_default"]).items()})
    if shipped is not None:
        rows, cats = item_features(items, weak)
        p1, p2, ps = shipped.batch(rows, cats)
        m = score_cascade(o, **cascade_scores(p1, p2, ps, shipped.margin, shipped.skip_below))
        fitted = set(shipped.meta.get("fitted_ids", []))
        m["in_sample_share"] = float(np.mean([id_digest(it["id"]) in fitted for it in items]))
        routers["baton_shipped"] = _round(m)
    labels = o.weak_correct
    by_tag: dict[str, dict[str, Any]] = {}
    for tag in sorted({it.get("tag", "") for it in items}):
        idx = np.array([it.get("tag", "") == tag for it in items])
        by_tag[tag or "-"] = {"n": int(idx.sum()), "acc_weak": round(float(o.weak_correct[idx].mean()), 4),
                              "acc_strong": round(float(o.strong_correct[idx].mean()), 4),
                              "weak_j": round(float(o.weak_energy_j[idx].mean()), 3),
                              "strong_j": round(float(o.strong_energy_j[idx].mean()), 3)}
    a = auc(oof["p_answer"], labels)
    a_strong = auc(oof["p_strong"], o.strong_correct)
    return {
        "n": o.n, "acc_weak": round(o.acc_weak, 4), "acc_strong": round(o.acc_strong, 4),
        "acc_oracle": round(o.acc_oracle, 4), "routers": routers,
        "folds": k, "margin_default": round(float(np.mean(oof["margin"])), 4),
        "skip_below_default": round(float(np.mean(oof["skip_below"])), 4),
        "calibration": {"auc": None if a is None else round(a, 4),
                        "strong_auc": None if a_strong is None else round(a_strong, 4),
                        "log_loss": round(log_loss(oof["p_answer"], labels), 4),
                        "brier": round(float(np.mean((oof["p_answer"] - labels) ** 2)), 4)},
        "energy": {
            "weak_j_per_item": round(float(o.weak_energy_j.mean()), 3),
            "strong_j_per_item": round(float(o.strong_energy_j.mean()), 3),
            "weak_sources": sorted({w.energy_source for w in weak}),
            "strong_sources": sorted({s.energy_source for s in strong}),
            "note": "joules as receipts report them; sources named 'estimated...' are estimates, not measurements",
        },
        "tokens": {"weak_completion_mean": round(float(np.mean([w.completion_tokens for w in weak])), 1),
                   "strong_completion_mean": round(float(np.mean([s.completion_tokens for s in strong])), 1)},
        "by_tag": by_tag,
    }
