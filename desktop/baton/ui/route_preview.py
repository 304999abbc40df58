"""See before it runs: under the composer, where the question will go and why (the router's stage one, through
``service.preview_route``: no generation, never a model load), updated ~300 ms after the user stops typing, on a
worker thread; and the composer's route control gains one entry per endpoint, so the user can pick auto, local or a
specific endpoint before sending (the choice is honoured: ``endpoint()`` goes with the question)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from baton.ui.composer import TIERS
from baton.ui.workers import Call

DEBOUNCE_MS = 300
ENDPOINT_ROLE = Qt.ItemDataRole.UserRole + 7  # the endpoint name of a "Cloud: NAME" entry
WHERE = {"local": "this computer", "cloud": "remote"}


def describe(preview: dict[str, Any]) -> str:
    """One line for people from a ``preview_route`` result."""
    tier = preview.get("tier")
    reason = str(preview.get("reason") or "")
    if tier == "refused":
        return f"✕ Would be refused: {reason}"
    if tier == "cloud":
        head = f"→ {preview.get('endpoint')} ({preview.get('model')})"
    else:
        head = f"→ This computer · {preview.get('model')}"
    line = f"{head} — {reason}" if reason else head
    if preview.get("escalate_to"):
        line += f"; a weak answer would go to {preview['escalate_to']}"
    notices = preview.get("notices") or []
    if notices:
        line += " · " + "; ".join(str(n) for n in notices)
    return line


class RoutePreview(QObject):
    """The route line under ``window.composer`` and the endpoint entries of its route control."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.composer = window.composer
        self.label = QLabel("")
        self.label.setObjectName("routePreview")
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setToolTip("Where this question will go if you send it now, and why (the router's first stage). "
                              "Change it with the route control on the left.")
        self.composer.layout().addWidget(self.label)
        self.composer.tier.setToolTip("Where this question goes: auto (the thread's tier mode, local first), local "
                                      "only, or a cloud endpoint")
        self.timer = window.ui.registry.timer("route-preview", self, DEBOUNCE_MS, self._run, single_shot=True)
        self._call: Call | None = None
        self._dirty = False
        self.last: dict[str, Any] | None = None
        self.composer.edit.textChanged.connect(self.schedule)
        self.composer.tier.currentIndexChanged.connect(lambda _i: self.schedule())
        window.session.currentChanged.connect(lambda _tid: self.schedule())
        self._closed = False

    # ---- the route control ----------------------------------------------------------------------
    def set_endpoints(self, names: list[str]) -> None:
        """Rebuild the route control: Auto, Local only, Cloud (the first eligible endpoint), then each endpoint."""
        combo = self.composer.tier
        keep = (combo.currentData(), combo.currentData(ENDPOINT_ROLE))
        combo.blockSignals(True)
        combo.clear()
        for label, value, tip in TIERS:
            combo.addItem(label, value)
            combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        for name in names:
            combo.addItem(f"Cloud: {name}", "cloud")
            combo.setItemData(combo.count() - 1, name, ENDPOINT_ROLE)
            combo.setItemData(combo.count() - 1, f"Send to {name} only", Qt.ItemDataRole.ToolTipRole)
        at = next((i for i in range(combo.count())
                   if (combo.itemData(i), combo.itemData(i, ENDPOINT_ROLE)) == keep), 0)
        combo.setCurrentIndex(at)
        combo.blockSignals(False)
        self.schedule()

    def choose(self, tier: str, endpoint: str | None = None) -> bool:
        """Select ``tier`` (and ``endpoint``) in the route control; False when there is no such entry."""
        combo = self.composer.tier
        for i in range(combo.count()):
            if combo.itemData(i) == tier and combo.itemData(i, ENDPOINT_ROLE) == endpoint:
                combo.setCurrentIndex(i)
                return True
        return False

    def endpoint(self) -> str | None:
        """The endpoint the user picked, or None (auto, local, or the first eligible endpoint)."""
        name = self.composer.tier.currentData(ENDPOINT_ROLE)
        return str(name) if name else None

    # ---- the preview -----------------------------------------------------------------------------
    def schedule(self) -> None:
        """Preview again once the user has stopped typing for ``DEBOUNCE_MS``."""
        if not self._closed:
            self.timer.start()

    def _run(self) -> None:
        if self._closed:
            return
        if self._call is not None:
            self._dirty = True  # one at a time; the newest text is previewed when this one ends
            return
        tid = self.w.session.current_id
        text = self.composer.text()
        tier, endpoint = str(self.composer.selected_tier()), self.endpoint()
        backend = self.w.backend
        call = Call(lambda: backend.preview_route(tid, text, tier, endpoint))
        self.w.ui.registry.track_thread("route-preview", call)
        call.succeeded.connect(self._show)
        call.failed.connect(lambda msg: self.label.setText(f"Route unknown: {msg}"))
        call.finished.connect(self._ended)
        self._call = call
        call.start()

    def _show(self, preview: dict[str, Any]) -> None:
        self.last = preview
        self.label.setText(describe(preview))
        self.label.setProperty("refused", preview.get("tier") == "refused")

    def _ended(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            call.deleteLater()
        if self._dirty and not self._closed:
            self._dirty = False
            self._run()

    def shutdown(self) -> None:
        """Stop the timer and wait for a preview in flight (called when the window closes)."""
        self._closed = True
        self.timer.stop()
        if self._call is not None:
            self._call.wait(5000)
