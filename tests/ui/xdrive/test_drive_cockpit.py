"""The cockpit driven in a real X display (tests/ui/xdrive/drive_cockpit.py): Xvfb, the real app on the real default
model, xdotool at the keyboard and mouse. Every step must pass; a missing X tool fails the test (it is how issue 19
is shown to work), it never skips. Screenshots go to /tmp/shots/drive-cockpit/."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ui.xdrive.drive_cockpit import TOOLS

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parent / "drive_cockpit.py"
STEPS = ("first_answer", "thread_settings", "route_before_sending", "search_and_jump", "export_markdown", "compare",
         "model_download", "api_server", "totals", "pin_and_delete_with_undo", "quit")


def test_the_cockpit_driven_in_a_real_display(tmp_path):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    assert not missing, f"{', '.join(missing)} missing: apt-get install -y xvfb xdotool xclip imagemagick"
    shots = Path("/tmp/shots/drive-cockpit")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--shots", str(shots)], capture_output=True, text=True,
                          timeout=540)
    lines = proc.stdout.splitlines()
    passed = {ln.split()[1].rstrip(":") for ln in lines if ln.startswith("PASS ")}
    assert proc.returncode == 0 and passed == set(STEPS), proc.stdout + proc.stderr[-3000:]
    for name in ("02-thread-settings", "03-route-changed-before-sending", "06-jumped-to-message",
                 "09-compare-side-by-side", "11-model-downloading", "14-api-server-on",
                 "16-deleted-with-undo"):
        assert (shots / f"{name}.png").stat().st_size > 10_000, f"{name}.png is missing or blank"
