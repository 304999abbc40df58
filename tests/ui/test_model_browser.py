"""The model browser in the app: the catalog with what fits here and why; a download of the real SmolLM2 GGUF
from a loopback server with HTTP Range, shown mid-way, paused, resumed (a Range request; the file hashes right)
and used for new answers; a cancelled download leaves nothing; a wrong sha256 is rejected and the file deleted."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from baton.core.engine.catalog import load_catalog
from baton.core.engine.defaults import default_model_path

from tests.helpers.range_server import RangeServer
from tests.ui.real_app import real_window  # noqa: F401 (fixture)

NAME = "smollm2-browser.gguf"


@pytest.fixture(scope="module")
def gguf() -> bytes:
    return default_model_path().read_bytes()


@pytest.fixture
def server(gguf: bytes):
    with RangeServer({NAME: gguf}) as s:
        yield s


def _catalog(url: str, sha: str) -> list:
    real = load_catalog()
    small = next(m for m in real if m.id.startswith("smollm2-135m"))
    big = max(real, key=lambda m: m.params)
    return [dataclasses.replace(small, id="smollm2-served", name="SmolLM2 (served here)", url=url, sha256=sha), big]


def _finished(dlg) -> bool:
    return dlg._thread is None  # noqa: SLF001


def test_catalog_shows_fit_and_the_planners_reason(qtbot, real_window):  # noqa: F811
    w = real_window()
    palette = w.open_palette()
    palette.filter.setText("model browser")
    assert palette.run_current()
    dlg = w.model_browser
    assert dlg.table.rowCount() == len(load_catalog()) > 5
    fits = [dlg.table.item(r, 5).text() for r in range(dlg.table.rowCount())]
    assert any(f.startswith("yes") for f in fits)
    assert all(dlg.table.item(r, 5).toolTip() for r in range(dlg.table.rowCount())), "each fit says why"
    assert "RAM free" in dlg.machine.text()
    builtin = next(r for r, m in enumerate(dlg.catalog) if not m.url)
    dlg.table.selectRow(builtin)
    assert dlg.table.item(builtin, 6).text() == "built in" and not dlg.download_button.isEnabled()
    assert dlg.plans[builtin].reason in dlg.why.text()
    dlg.reject()


def test_download_pause_resume_verify_and_use(qtbot, real_window, server, gguf):  # noqa: F811
    sha = hashlib.sha256(gguf).hexdigest()
    w = real_window()
    dlg = w.open_model_browser(_catalog(server.url(NAME), sha))
    models = w.backend.paths.models_dir
    assert dlg.table.item(1, 5).text() in ("no", "yes, on the CPU", "yes, on the GPU") or "split" in \
        dlg.table.item(1, 5).text()
    dlg.table.selectRow(0)
    server.hold_after_bytes = 40 << 20
    assert dlg.download()
    assert server.held.wait(30)
    qtbot.waitUntil(lambda: dlg.bar.value() > 300, timeout=10000)
    assert "MB/s" in dlg.status.text() and " of " in dlg.status.text()
    assert dlg.pause_button.isEnabled() and dlg.cancel_button.isEnabled() and not dlg.use_button.isEnabled()
    dlg.grab().save("/tmp/shots/b-model-browser-downloading.png")
    dlg.pause_button.click()
    server.release.set()
    qtbot.waitUntil(lambda: _finished(dlg), timeout=30000)
    assert "Paused" in dlg.status.text()
    assert dlg.table.item(0, 6).text().startswith("partial")
    assert dlg.download_button.text() == "Resume"
    part = (models / (NAME + ".part")).stat().st_size
    assert 0 < part < len(gguf) and not (models / NAME).exists()

    server.hold_after_bytes = None
    dlg.download_button.click()
    qtbot.waitUntil(lambda: _finished(dlg), timeout=60000)
    assert "verified" in dlg.status.text(), dlg.status.text()
    assert server.requests[-1]["range"] == f"bytes={part}-"
    assert hashlib.sha256((models / NAME).read_bytes()).hexdigest() == sha
    assert dlg.table.item(0, 6).text() == "downloaded" and dlg.use_button.isEnabled()
    dlg.use_button.click()
    assert w.backend.settings.default_model == str(models / NAME)
    assert w.backend.default_model_label() == NAME.removesuffix(".gguf")


def test_cancel_mid_download_leaves_nothing(qtbot, real_window, server, gguf):  # noqa: F811
    w = real_window()
    dlg = w.open_model_browser(_catalog(server.url(NAME), hashlib.sha256(gguf).hexdigest()))
    dlg.table.selectRow(0)
    server.hold_after_bytes = 8 << 20
    assert dlg.download()
    assert server.held.wait(30)
    dlg.cancel_button.click()
    server.release.set()
    qtbot.waitUntil(lambda: _finished(dlg), timeout=30000)
    assert "cancelled" in dlg.status.text()
    assert list(w.backend.paths.models_dir.iterdir()) == []
    assert dlg.download_button.text() == "Download" and dlg.download_button.isEnabled()
    dlg.reject()


def test_a_wrong_sha256_is_rejected_and_the_file_deleted(qtbot, real_window, server):  # noqa: F811
    w = real_window()
    dlg = w.open_model_browser(_catalog(server.url(NAME), "ab" * 32))
    dlg.table.selectRow(0)
    assert dlg.download()
    qtbot.waitUntil(lambda: _finished(dlg), timeout=60000)
    assert "sha256 mismatch" in dlg.status.text() and "deleted" in dlg.status.text()
    assert list(w.backend.paths.models_dir.iterdir()) == []
    assert not dlg.use_button.isEnabled()
    dlg.reject()


def test_the_models_dialog_opens_the_browser(qtbot, real_window):  # noqa: F811
    w = real_window()
    picker = w.open_models()
    picker.browse_button.click()
    qtbot.waitUntil(lambda: getattr(w, "model_browser", None) is not None and w.model_browser.isVisible(),
                    timeout=10000)
    assert not picker.isVisible()
    w.model_browser.reject()
