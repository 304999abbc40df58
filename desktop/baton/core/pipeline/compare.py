"""One question answered by two tiers side by side, built from the service's own doors (``ask`` then ``retry``):
the first answer is stored under the question as usual, the second is a retry of it on the other tier, so the
two are versions at the same point of the thread. Keeping one makes it the thread's current version; the other
stays reachable as an earlier version (``replaced``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baton.core.errors import UsageError

TextCallback = Callable[[str], None]


@dataclass(frozen=True)
class Side:
    """Where one side of a comparison runs: ``tier`` ``local`` (``model``: an id from `baton models`, or None for
    the default) or ``cloud`` (``endpoint``: a configured endpoint's name)."""

    tier: str = "local"
    model: str | None = None
    endpoint: str | None = None

    @classmethod
    def of(cls, spec: dict[str, Any] | "Side") -> "Side":
        """A Side from a dict with ``tier``, ``model`` and ``endpoint`` keys (missing ones default). Raises
        UsageError for a tier other than local or cloud, or a cloud side without an endpoint."""
        if isinstance(spec, Side):
            return spec
        endpoint = spec.get("endpoint") or None
        tier = str(spec.get("tier") or ("cloud" if endpoint else "local"))
        if tier not in ("local", "cloud"):
            raise UsageError(f"a comparison runs on 'local' or 'cloud', not '{tier}'")
        if tier == "cloud" and not endpoint:
            raise UsageError("the cloud side of a comparison needs an endpoint name")
        return cls(tier, spec.get("model") or None if tier == "local" else None, endpoint)

    def label(self) -> str:
        """How the side is named to people: ``local: MODEL`` or ``endpoint: NAME``."""
        return f"endpoint: {self.endpoint}" if self.tier == "cloud" else f"local: {self.model or 'default model'}"


def run_compare(service: Any, thread_id: str | None, prompt: str, a: Side, b: Side, *,
                on_text_a: TextCallback | None = None, on_text_b: TextCallback | None = None,
                cancel: threading.Event | None = None, approve: Any = None,
                on_status: Callable[[str, Any], None] | None = None, params: Any = None) -> tuple[Any, Any | None]:
    """Answer ``prompt`` in ``thread_id`` (a new thread when None) on side ``a`` (``service.ask``), then the same
    question on side ``b`` (``service.retry`` of a's answer: a sibling version). Returns ``(result_a, result_b)``
    (AskResults; ``result_b`` is None when ``cancel`` was set before b started). While nothing is kept, b is the
    current version (what ``retry`` leaves); ``keep`` picks. Raises what ``ask`` and ``retry`` raise."""
    stop = cancel or threading.Event()
    status = on_status or (lambda _side, _p: None)
    res_a = service.ask(prompt, thread_id=thread_id, tier=a.tier, model=a.model, endpoint=a.endpoint, params=params,
                        on_text=on_text_a, cancel=stop, approve=approve, on_status=lambda p: status("a", p))
    if stop.is_set():
        return res_a, None
    res_b = service.retry(res_a.message_id, tier=b.tier, model=b.model, endpoint=b.endpoint, params=params,
                          on_text=on_text_b, cancel=stop, approve=approve, on_status=lambda p: status("b", p))
    return res_a, res_b


def keep_version(store: Any, message_id: str) -> None:
    """Make answer ``message_id`` the current version at its point: it becomes ``done`` again when it was an
    earlier version, and every other version there turns ``replaced``. Raises StoreError for an unknown message,
    UsageError for a message that is not an answer."""
    from baton.core.store.records import Status

    msg = store.get_message(message_id)
    if msg.role != "assistant":
        raise UsageError(f"message {message_id} is not an answer; keep takes the id of an answer")
    if msg.status == Status.REPLACED:
        store.set_status(msg.id, Status.DONE)
    store.replace_siblings(msg.id)
