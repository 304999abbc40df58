"""How figures read in the window. Pure functions, no Qt; every figure keeps its unit."""

from __future__ import annotations

import html
from typing import Any


def fmt_energy(energy_j: float | None) -> str:
    if energy_j is None:
        return "? J"
    if energy_j >= 3600:
        return f"{energy_j / 3600:.2f} Wh"
    if energy_j >= 100:
        return f"{energy_j:.0f} J"
    if energy_j >= 10:
        return f"{energy_j:.1f} J"
    return f"{energy_j:.2f} J"


def fmt_wh(energy_j: float) -> str:
    """Energy in watt-hours, the unit of an electricity bill (milliwatt-hours when tiny)."""
    wh = energy_j / 3600.0
    if wh >= 10:
        return f"{wh:.1f} Wh"
    if wh >= 0.01:
        return f"{wh:.3f} Wh"
    return f"{wh * 1000:.2f} mWh"


def fmt_usd(usd: float | None) -> str:
    if usd is None:
        return "$?"
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:.2f}"


def fmt_bytes(size_bytes: float | None) -> str:
    if not size_bytes:
        return "0 B"
    size = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def fmt_count(n: float | None) -> str:
    if n is None:
        return "?"
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.1f}{suffix}".replace(".0", "")
    return str(int(n))


def fmt_ms(duration_s: float | None) -> str:
    if duration_s is None:
        return "?"
    if duration_s >= 10:
        return f"{duration_s:.0f} s"
    if duration_s >= 1:
        return f"{duration_s:.1f} s"
    return f"{duration_s * 1000:.0f} ms"


def fmt_hours(hours: float) -> str:
    """A duration given in hours as people say it: "40 min", "5.5 h", "3 days", "about 2 years"."""
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{hours:.1f} h"
    days = hours / 24
    if days < 365:
        return f"{days:.0f} days"
    return f"about {days / 365:.0f} years"


def fmt_rate(per_s: float) -> str:
    return f"{per_s:.1f}" if per_s < 10 else f"{per_s:.0f}"


def measured_share(energy: dict[str, Any]) -> str:
    total = float(energy.get("total_j") or 0.0)
    measured = float(energy.get("measured_j") or 0.0)
    if total <= 0:
        return "no energy data"
    share = measured / total
    if share >= 0.995:
        return "measured"
    if share <= 0.005:
        return "estimated"
    return f"{share:.0%} measured"


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:.3g}"


def receipt_summary(receipt: dict[str, Any]) -> str:
    """One line: energy (with its measured share), tokens, speed, time to first token, dollars."""
    energy = receipt.get("energy") or {}
    usage = receipt.get("usage") or {}
    timing = receipt.get("timing") or {}
    cost = receipt.get("cost") or {}
    parts = [
        f"{fmt_energy(energy.get('total_j'))} ({measured_share(energy)})",
        f"{usage.get('completion_tokens', 0)} tok",
        f"{fmt_rate(float(timing.get('decode_tokens_per_s') or 0))} tok/s",
        f"TTFT {fmt_ms(timing.get('ttft_s'))}",
        fmt_usd(cost.get("usd")),
    ]
    if usage.get("estimated"):
        parts[1] += " (estimated)"
    dropped = int((receipt.get("context") or {}).get("dropped_turns") or 0)
    if dropped:
        parts.append(f"{dropped} earlier turn{'s' if dropped != 1 else ''} left out to fit")
    return " · ".join(parts)


def receipt_details_html(receipt: dict[str, Any]) -> str:
    """The expanded receipt: why it was routed there, the signals, every energy part with its source."""
    route = receipt.get("route") or {}
    energy = receipt.get("energy") or {}
    timing = receipt.get("timing") or {}
    usage = receipt.get("usage") or {}
    memory = receipt.get("memory") or {}
    esc = html.escape
    rows = [f"<b>Why here:</b> {esc(route.get('reason') or 'no reason recorded')}"]
    where = route.get("endpoint") or "this computer"
    rows.append(f"<b>Ran on:</b> {esc(str(route.get('tier', '?')))} · {esc(str(route.get('model', '?')))}"
                f" · {esc(str(where))}" + (" · <i>escalated</i>" if route.get("escalated") else ""))
    signals = route.get("signals") or {}
    shown = {k: v for k, v in signals.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if shown:
        rows.append("<b>Signals:</b> " + ", ".join(f"{esc(k)} {_num(v)}" for k, v in sorted(shown.items())))
    for p in energy.get("parts") or []:
        note = f" ({esc(p.get('note'))})" if p.get("note") else ""
        flags = f" [{esc(', '.join(p.get('flags') or []))}]" if p.get("flags") else ""
        rows.append(f"<b>Energy</b> {esc(p.get('scope', '?'))}: {fmt_energy(p.get('energy_j'))}, "
                    f"{esc(p.get('source', '?'))}{note}{flags}")
    split = []
    for key, label in (("prefill_j", "prefill"), ("decode_j", "decode"), ("net_j", "net of idle")):
        if energy.get(key) is not None:
            split.append(f"{label} {fmt_energy(energy[key])}")
    if split:
        rows.append("<b>Split:</b> " + ", ".join(split))
    rows.append(f"<b>Tokens:</b> {usage.get('prompt_tokens', 0)} in, {usage.get('completion_tokens', 0)} out · "
                f"load {fmt_ms(timing.get('load_s'))}, total {fmt_ms(timing.get('total_s'))}")
    mem = [f"RSS {fmt_bytes(memory.get('rss_bytes'))}"]
    if memory.get("vram_bytes"):
        mem.append(f"VRAM {fmt_bytes(memory['vram_bytes'])}")
    rows.append("<b>Memory:</b> " + ", ".join(mem))
    for note in receipt.get("notices") or []:
        rows.append(f"<b>Note:</b> {esc(str(note))}")
    return "<br>".join(rows)
