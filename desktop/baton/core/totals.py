"""Totals by day, week and month: joules, dollars, and what the same answers would have cost all-cloud.

Read from the receipts of counted answers (an answer an escalation replaced is counted in the one that replaced it).
The all-cloud counterfactual prices each local answer's prompt and completion tokens at the reference endpoint's
rates (the first configured endpoint with a price, the same one the app's "saved" figure uses) and adds what the
cloud answers really cost; with no priced endpoint it is None. Periods are local calendar days, weeks starting on
Monday, and calendar months.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

PERIODS = ("day", "week", "month")


@dataclass
class PeriodTotal:
    """One period: ``start`` (unix s, local midnight), ``label`` (``2026-11-30``, ``week of 2026-11-30``,
    ``2026-11``), ``answers`` (``local`` and ``cloud``; an endpoint on the user's own machines counts as local, see
    ``store.records.SITE_SQL``), ``energy_j`` (Units: J, every tier), ``usd`` (Units: USD, what was paid),
    ``cloud_usd`` (Units: USD, the cloud answers' part of it), ``all_cloud_usd`` (Units: USD: the cloud answers'
    cost plus the local answers' tokens at the reference endpoint's rates; None without a priced endpoint) and the
    local tokens priced."""

    start: float
    label: str
    answers: int = 0
    local: int = 0
    cloud: int = 0
    energy_j: float = 0.0
    usd: float = 0.0
    cloud_usd: float = 0.0
    local_prompt_tokens: int = 0
    local_completion_tokens: int = 0
    all_cloud_usd: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The period as a plain dict (field name -> value)."""
        return asdict(self)


def reference_endpoint(endpoints: list[Any]) -> Any | None:
    """The endpoint whose rates price the all-cloud counterfactual: the first one with a price, else None."""
    return next((e for e in endpoints if e.usd_per_mtok_in or e.usd_per_mtok_out), None)


def local_tokens_usd(endpoint: Any, prompt_tokens: int, completion_tokens: int) -> float:
    """What local answers' tokens would have cost at ``endpoint``'s rates (Units: USD; its ``usd_per_mtok_in`` and
    ``usd_per_mtok_out``)."""
    return (prompt_tokens * endpoint.usd_per_mtok_in + completion_tokens * endpoint.usd_per_mtok_out) / 1e6


def _start(d: date, period: str) -> date:
    if period == "week":
        return d - timedelta(days=d.weekday())
    if period == "month":
        return d.replace(day=1)
    return d


def _previous(d: date, period: str) -> date:
    if period == "week":
        return d - timedelta(days=7)
    if period == "month":
        return (d - timedelta(days=1)).replace(day=1)
    return d - timedelta(days=1)


def _label(d: date, period: str) -> str:
    return {"week": f"week of {d.isoformat()}", "month": d.strftime("%Y-%m")}.get(period, d.isoformat())


def totals(store: Any, endpoints: list[Any], period: str = "day", count: int = 7,
           now: float | None = None) -> list[PeriodTotal]:
    """The last ``count`` periods of ``period`` (``day``, ``week`` or ``month``), newest first, the current one
    included even when empty. Raises ``ValueError`` for an unknown period, ``StoreError`` on database trouble."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    starts = [_start(today, period)]
    for _ in range(max(1, count) - 1):
        starts.append(_previous(starts[-1], period))
    rows = [PeriodTotal(time.mktime(d.timetuple()), _label(d, period)) for d in starts]
    ref = reference_endpoint(endpoints)
    for created, j, usd, tier, p_tok, c_tok in store.answers_since(rows[-1].start):
        row = next((r for r in rows if created >= r.start), None)
        if row is None or tier not in ("local", "cloud"):
            continue
        row.answers += 1
        row.energy_j += j
        row.usd += usd
        if tier == "local":
            row.local += 1
            row.local_prompt_tokens += p_tok
            row.local_completion_tokens += c_tok
        else:
            row.cloud += 1
            row.cloud_usd += usd
    for row in rows:
        if ref is not None:  # a local answer is counted once: at the cloud's rates, not also at what it cost here
            row.all_cloud_usd = row.cloud_usd + local_tokens_usd(ref, row.local_prompt_tokens,
                                                                 row.local_completion_tokens)
    return rows
