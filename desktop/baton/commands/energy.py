"""`baton energy probe`: what can be measured on this machine, source by source, and why not."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from baton.core.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("energy", help="energy telemetry: what this machine can measure",
                       description="Energy telemetry. `baton energy probe` lists every energy source, "
                                   "whether it can be read here, and why not.")
    esub = p.add_subparsers(dest="energy_command", metavar="SUBCOMMAND")
    probe = esub.add_parser("probe", help="list energy sources and what each can measure here")
    probe.add_argument("--json", action="store_true", help="print one JSON document")
    probe.add_argument("--idle-s", type=float, default=1.0,
                       help="seconds to measure idle power (0 skips it; default 1)")
    probe.set_defaults(func=run_probe)
    p.set_defaults(func=_needs_subcommand)


def _needs_subcommand(args: argparse.Namespace, ctx: Any) -> int:
    raise UsageError("say what to do: `baton energy probe [--json]`")


def run_probe(args: argparse.Namespace, ctx: Any) -> int:
    from baton.core.telemetry.meter import EnergyMeter

    if args.idle_s < 0 or args.idle_s > 60:
        raise UsageError("--idle-s must be between 0 and 60 seconds")
    with EnergyMeter.for_machine(ctx.settings.telemetry) as meter:
        if args.idle_s > 0 and meter.measure_idle(args.idle_s) is not None:
            from baton.core.store.db import Store
            from baton.core.telemetry.idle_store import save_idle

            with Store(ctx.paths.db_file) as store:  # later receipts subtract this baseline (net_j)
                save_idle(store, meter)
        report = meter.probe()
        scopes = {ch.sensor.scope: ch.sensor.source for ch in meter.counted_channels()
                  if not ch.sensor.cross_check}
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(render(report, scopes, args.idle_s))
    return 0


def render(report: dict[str, Any], counted: dict[str, str], idle_s: float) -> str:
    lines = ["Energy sources on this machine:"]
    for s in report["sources"]:
        state = "used" if s.get("used") else ("readable" if s["available"] else "not here")
        power = f"{s['power_w']:.2f} W now" if s.get("power_w") is not None else ""
        lines.append(f"  [{state:<8}] {s['scope']:<11} {s['source']:<17} {s['name']}  {power}".rstrip())
        lines.append(f"              {s['reason']}")
    for note in report.get("notes", []):
        lines.append(f"  note: {note}")
    idle = report.get("idle_power_w")
    if idle is not None:
        lines.append(f"Idle power: {idle:.2f} W (over {idle_s:g} s with nothing running in Baton)")
    elif idle_s > 0:
        lines.append("Idle power: could not be measured (see the reasons above)")
    measured = sorted(sc for sc, src in counted.items() if src != "estimated")
    estimated = sorted(sc for sc, src in counted.items() if src == "estimated")
    lines.append(
        "Receipts here add up: "
        + ", ".join(f"{sc} ({src})" for sc, src in sorted(counted.items()))
        + "."
    )
    if not measured:
        lines.append("Nothing is measured by hardware on this machine: every joule on a receipt is an "
                     "estimate, labelled `estimated`. docs/energy.md says how to enable RAPL or NVML.")
    elif estimated:
        lines.append(f"Measured: {', '.join(measured)}; estimated: {', '.join(estimated)}.")
    return "\n".join(lines) + "\n"
