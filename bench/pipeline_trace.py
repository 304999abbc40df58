"""How many Baton modules one `baton ask` crosses, and how many times it enters each.

Runs one real `baton ask --tier local` (the default model, a scratch BATON_HOME) under a profiler and counts, for
each module of the ``baton`` package, the calls that came into it from another module (an "entry"). Calls inside
a module, import-time code and the engine's owner thread are not counted. Prints one JSON document.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import tempfile
import threading


def main() -> int:
    os.environ["BATON_HOME"] = tempfile.mkdtemp(prefix="baton-trace-")
    from baton.commands.context import Context

    ctx = Context.from_env()
    service = ctx.service()
    service.engine(None)  # load before tracing: the question is the request's path, not model loading
    entries: collections.Counter[str] = collections.Counter()
    main_thread = threading.get_ident()

    def prof(frame, event, _arg):  # noqa: ANN001
        if event != "call" or threading.get_ident() != main_thread:
            return
        mod = frame.f_globals.get("__name__", "")
        if not mod.startswith("baton") or frame.f_code.co_name == "<module>":
            return
        caller = frame.f_back.f_globals.get("__name__", "") if frame.f_back else ""
        if caller != mod:
            entries[mod] += 1

    sys.setprofile(prof)
    try:
        service.ask("Name a colour.", tier="local", max_tokens=8)
    finally:
        sys.setprofile(None)
        ctx.close()
    print(json.dumps({"modules": len(entries), "entries": dict(entries.most_common())}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
