"""The cockpit's part of the window's door into the core (mixed into ``Backend``; no Qt here): per-thread settings
and budgets, pins, archive, deletes with undo, the route preview, search, export and totals.

Every method is a quick SQLite read or write on the GUI thread, except ``preview_route`` (reads a model file's header
the first time; called off the GUI thread)."""

from __future__ import annotations

import json
from typing import Any

from baton.core.store.thread_ops import UNDO_S, Burn, ThreadSettings


class CockpitBackend:
    """Thread settings, order, search, export and totals over ``self.service`` (provided by ``Backend``)."""

    service: Any
    settings: Any

    # ---- settings, pins, archive, delete with undo ---------------------------------------------
    def thread_settings(self, thread_id: str) -> ThreadSettings:
        return self.service.store.thread_settings(thread_id)

    def set_thread_settings(self, thread_id: str, **changes: Any) -> ThreadSettings:
        """Raises ``UsageError`` (one line) for a bad value; nothing is changed then."""
        return self.service.store.set_thread_settings(thread_id, **changes)

    def thread_burn(self, thread_id: str) -> Burn:
        return self.service.store.thread_burn(thread_id)

    def archived_threads(self) -> list[Any]:
        return self.service.store.ordered_threads(archived=True)

    def archive_thread(self, thread_id: str, archived: bool = True) -> None:
        self.service.store.archive_thread(thread_id, archived)

    def soft_delete_thread(self, thread_id: str) -> None:
        self.service.store.soft_delete_thread(thread_id)

    def restore_thread(self, thread_id: str) -> bool:
        return bool(self.service.store.restore_thread(thread_id))

    def purge_deleted(self, older_than_s: float = UNDO_S, only: str | None = None) -> list[str]:
        """Delete for good the threads soft-deleted longer ago than ``older_than_s`` (or ``only`` that one), with
        every loaded model's saved KV states (nothing of a deleted thread stays in a cache). Returns their ids."""
        gone = self.service.store.purge_deleted(older_than_s, only)
        if gone:
            self.service.forget_warm_state()
        return gone

    # ---- before sending -------------------------------------------------------------------------
    def preview_route(self, thread_id: str | None, prompt: str, tier: str = "auto",
                      endpoint: str | None = None) -> dict[str, Any]:
        """Where ``prompt`` would go and why (``service.preview_route``; never loads a model). Off the GUI thread."""
        return self.service.preview_route(thread_id, prompt, tier, endpoint)

    # ---- find and take out ----------------------------------------------------------------------
    def search(self, query: str, limit: int = 50) -> list[Any]:
        """FTS5 hits (``SearchHit``), best first; raises ``BatonError`` (one line) when search is unavailable."""
        return self.service.store.search(query, limit=limit)

    def export_thread(self, thread_id: str, fmt: str) -> str:
        """The thread as ``md`` (Markdown, for people) or ``json`` (every message and receipt), as `baton threads
        export` writes it."""
        from baton.core.thread_doc import ThreadView, markdown

        store = self.service.store
        view = ThreadView.read(store, thread_id)
        if fmt == "json":
            return json.dumps(view.export_doc(store.gate_findings(view.thread.id)), ensure_ascii=False, indent=1)
        return markdown(view)

    def totals(self, period: str, count: int = 7) -> list[Any]:
        """``core.totals.totals`` for ``period`` (day, week, month), newest first."""
        from baton.core.totals import totals

        return totals(self.service.store, list(self.settings.endpoints), period, count)

    def reference_endpoint(self) -> str | None:
        """The endpoint whose rates price the all-cloud figure, or None."""
        from baton.core.totals import reference_endpoint

        ep = reference_endpoint(list(self.settings.endpoints))
        return None if ep is None else str(ep.name)
