"""Running a code answer against the question's own examples, for the service (``baton.core.verify`` does it).

``verify.mode`` decides: ``on`` runs the examples in the sandbox, ``off`` reports "not run: verification off",
``ask`` asks the user once through ``consent`` (the app sets it; it saves the choice) and is ``off`` where nobody
can be asked (the CLI, ``--json``, the server). The sandbox is looked up once, on first use, and kept. The run
happens on a worker thread so a cancel is answered at once (the sandbox's own limits end the run itself).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from baton.core.pipeline.turn import Turn

POLL_S = 0.05


class Verifier:
    """``check(turn, answer)``: the ``Verification`` of ``answer`` against the examples in ``turn``'s question, or
    None when the question carries none (or is not about code). ``settings()`` returns the live settings;
    ``consent()`` asks the user whether to run answers (True: on, False: off; it saves the choice) and is None
    where nobody can be asked."""

    def __init__(self, settings: Callable[[], Any], consent: Callable[[], bool] | None = None) -> None:
        self.settings = settings
        self.consent = consent
        self._sandbox: Any = None
        self._looked = False
        self._lock = threading.Lock()

    def mode(self) -> str:
        """``on`` or ``off`` now (``ask`` asks through ``consent`` once, and is ``off`` without it)."""
        verify = self.settings().verify
        if verify.mode == "ask" and self.consent is not None:
            with self._lock:
                if self.settings().verify.mode == "ask":
                    verify.mode = "on" if self.consent() else "off"
        return "on" if verify.mode == "on" else "off"

    def sandbox(self) -> Any:
        """The sandbox (``verify.find_sandbox``), found on first use and kept; a ``SandboxUnavailable`` (which says
        why) when there is none."""
        from baton.core.verify import find_sandbox

        with self._lock:
            if not self._looked:
                self._sandbox, self._looked = find_sandbox(), True
            return self._sandbox

    def checked(self, turn: Turn, answer: str) -> dict[str, Any] | None:
        """``check`` as the receipt keeps it (``as_dict``): None when the question carries no examples."""
        return as_dict(self.check(turn, answer))

    def check(self, turn: Turn, answer: str) -> Any:
        """Run ``answer`` against ``turn``'s examples (see the class). Never raises for the answer's own faults;
        a cancel during the run gives a ``not_run`` verification that says so."""
        try:
            from baton.core import verify

            verify.verify_examples  # noqa: B018 - the check exists in this build
        except (ImportError, AttributeError):
            return None
        question = turn.question
        if not has_examples(question):
            return None
        box = self.sandbox() if self.mode() == "on" else None
        out: dict[str, Any] = {}

        def work() -> None:
            try:
                out["v"] = verify.verify_examples(question, answer, box)
            except Exception as e:  # noqa: BLE001 - a broken check is reported, never a failed answer
                out["e"] = e

        worker = threading.Thread(target=work, name="verify", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(POLL_S)
            if turn.cancel.is_set():
                return verify.Verification("not_run", 0, 0, "stopped by the user")
        if "e" in out:
            return verify.Verification("not_run", 0, 0, f"the check failed: {out['e']}")
        return out.get("v")


def as_dict(verification: Any) -> dict[str, Any] | None:
    """A ``Verification`` as the receipt keeps it (``to_dict`` with its ``sentence``), or None."""
    if verification is None:
        return None
    return {**verification.to_dict(), "sentence": str(verification.sentence)}


def has_examples(question: str) -> bool:
    """True when ``question`` carries examples to run against a code answer (``assert`` lines, doctest ``>>>``
    lines, "f(x) should return y"), as ``verify.examples`` finds them."""
    try:
        from baton.core.verify.examples import extract_examples
    except ImportError:
        return False
    return bool(extract_examples(question))
