"""The ladder and the verification mode in the Settings dialog, the question asked once before code is run, and
the ladder's steps under an answer."""

from __future__ import annotations

import threading
import tomllib

from PySide6.QtCore import Qt

from baton.ui.ladder_field import VerifyConsent
from baton.ui.receipt import ReceiptBar, ladder_text


def test_the_ladder_is_picked_ordered_and_saved(qtbot, make_window):
    h = make_window(with_endpoint=True)
    dlg = h.window.open_settings()
    specs = [dlg.ladder.pick.itemData(i) for i in range(dlg.ladder.pick.count())]
    endpoint = h.settings.endpoints[0].name
    assert endpoint in specs and len(specs) >= 2, "local models and endpoints are offered"
    local = next(s for s in specs if s != endpoint)
    for spec in (endpoint, local, local):
        dlg.ladder.pick.setCurrentIndex(specs.index(spec))
        dlg.ladder.add()
    assert dlg.ladder.tiers() == [endpoint, local], "each tier once"
    dlg.ladder.list.setCurrentRow(1)
    dlg.ladder.move(-1)
    assert dlg.ladder.tiers() == [local, endpoint]
    dlg.verify_mode.setCurrentIndex(dlg.verify_mode.findData("on"))
    qtbot.mouseClick(dlg.buttons.button(dlg.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)
    raw = tomllib.loads(h.paths.config_file.read_text())
    assert raw["routing"]["ladder"] == [local, endpoint] and raw["verify"]["mode"] == "on"
    assert h.settings.routing.ladder == [local, endpoint] and h.settings.verify.mode == "on"
    again = h.window.open_settings()
    assert again.ladder.tiers() == [local, endpoint] and again.verify_mode.currentData() == "on"
    again.ladder.list.setCurrentRow(0)
    again.ladder.remove()
    assert again.ladder.tiers() == [endpoint]
    again.reject()


def test_verification_ask_is_asked_once_from_an_answer_thread_and_saved(qtbot, make_window):
    h = make_window()
    verifier = h.service.verifier
    assert isinstance(verifier.consent, VerifyConsent), "the window asks in verify mode 'ask'"
    verifier.consent.answer = False  # the user says No
    assert h.settings.verify.mode == "ask"
    modes: list[str] = []
    worker = threading.Thread(target=lambda: modes.extend([verifier.mode(), verifier.mode()]))
    worker.start()
    qtbot.waitUntil(lambda: not worker.is_alive(), timeout=5000)
    assert modes == ["off", "off"] and h.settings.verify.mode == "off"
    assert tomllib.loads(h.paths.config_file.read_text())["verify"]["mode"] == "off"


def test_the_receipt_lists_the_ladder_steps(qtbot):
    receipt = {"route": {"tier": "local", "model": "qwen", "reason": "stopped at qwen: last tier"},
               "ladder": [{"tier": "smollm2", "energy_j": 2.14, "usd": 0, "verdict": "rejected", "score": 0.2,
                           "verification": {"state": "failed", "sentence": "0 of 1 examples pass"}},
                          {"tier": "qwen", "energy_j": 5.3, "usd": 0, "verdict": "accepted", "score": 0.9,
                           "verification": {"state": "passed", "sentence": "1 of 1 examples pass"}}]}
    bar = ReceiptBar("m1", receipt, actions=False, retry_targets=[])
    qtbot.addWidget(bar)
    assert bar.ladder.text() == ("tiers: smollm2 (2.1 J, rejected: 0 of 1 examples pass) -> "
                                 "qwen (5.3 J, accepted: 1 of 1 examples pass)")
    assert not bar.ladder.isHidden()
    plain = ReceiptBar("m2", {"route": {}}, actions=False, retry_targets=[])
    qtbot.addWidget(plain)
    assert plain.ladder.isHidden()
    assert ladder_text({"verification": {"sentence": "not run: verification off"}}) == \
        "examples: not run: verification off"
