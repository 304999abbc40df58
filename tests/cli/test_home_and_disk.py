"""A full disk, a read-only home and BATON_HOME pointing at a file: one line, exit 1, nothing lost.

The full and the read-only filesystems are real: a 64 KiB tmpfs mounted inside a private mount
namespace (``unshare -rm``, so nothing is mounted on the host and no cleanup can be missed), then
filled to ENOSPC or remounted read-only. The scenario runs inside the namespace and reports JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from baton.paths import HomeError, atomic_write
from tests.helpers.proc import run_baton

SEED = "# my settings\n[engine]\nn_ctx = 2048  # small box\n\n[mine]\nkeep = true\n"


def _namespace_prefix() -> list[str] | None:
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-rm"], ["unshare", "-m"]):
        ok = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", "/mnt"],
                            capture_output=True).returncode == 0
        if ok:
            return prefix
    return None


NS = _namespace_prefix()


@pytest.fixture
def ns() -> list[str]:
    """The unshare prefix for a private mount namespace; a set-up failure (not a skip) where there is none."""
    if NS is None:
        pytest.fail("set-up failure: no private mount namespace here (unshare -rm refused), so a real full or "
                    "read-only filesystem cannot be mounted; run as root (CI does)")
    return NS

SCENARIO = r"""
import json, os, subprocess, sys
mode, mnt, seed = sys.argv[1], sys.argv[2], sys.argv[3]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt], check=True)
home = os.path.join(mnt, "home")
cfg = os.path.join(home, "config")
for d in ("config", "data", "cache", "logs", "data/models"):
    os.makedirs(os.path.join(home, d))
with open(os.path.join(cfg, "config.toml"), "w") as f:
    f.write(seed)
with open(os.path.join(cfg, "serve-token"), "w") as f:
    f.write("old-token\n")
if mode == "full":
    fd = os.open(os.path.join(mnt, "filler"), os.O_WRONLY | os.O_CREAT)
    for size in (4096, 1):
        try:
            while True:
                os.write(fd, b"\0" * size)
        except OSError:
            pass
    os.close(fd)
else:
    subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
env = dict(os.environ, BATON_HOME=home)
env.pop("BATON_OFFLINE", None)
runs = {}
for name, argv in (("config_set", ["config", "set", "engine.n_ctx", "8192"]),
                   ("endpoints_add", ["endpoints", "add", "lan", "--base-url", "http://10.0.0.2/v1", "--model", "m"]),
                   ("threads", ["threads"]),
                   ("fresh_home", ["config", "list"])):
    e = dict(env, BATON_HOME=os.path.join(mnt, "new-home")) if name == "fresh_home" else env
    p = subprocess.run([sys.executable, "-m", "baton", *argv], capture_output=True, text=True, env=e)
    runs[name] = {"rc": p.returncode, "stderr": p.stderr}
token = {}
try:
    from baton.paths import atomic_write
    atomic_write(os.path.join(cfg, "serve-token"), "new-token\n", mode=0o600, what="the serve token")
    token["error"] = None
except Exception as ex:
    token["error"] = f"{type(ex).__name__}: {ex}"
files = sorted(os.listdir(cfg))
print(json.dumps({"runs": runs, "token": token, "files": files,
                  "config": open(os.path.join(cfg, "config.toml")).read(),
                  "serve_token": open(os.path.join(cfg, "serve-token")).read()}))
"""


def scenario(tmp_path: Path, mode: str) -> dict:
    assert NS is not None
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run([*NS, sys.executable, "-c", SCENARIO, mode, str(mnt), SEED], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def one_line(run: dict) -> str:
    err = run["stderr"]
    assert run["rc"] == 1, err
    lines = [line for line in err.splitlines() if not line.startswith("baton: warning:")]  # [mine] is unknown
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.mark.usefixtures("ns")
def test_full_disk_config_set_endpoints_add_and_token_one_line_nothing_lost(tmp_path: Path) -> None:
    r = scenario(tmp_path, "full")
    for name in ("config_set", "endpoints_add"):
        err = one_line(r["runs"][name])
        assert "no space left" in err and "free some space" in err
    assert r["token"]["error"] is not None and r["token"]["error"].startswith("HomeError: no space left")
    assert r["files"] == ["config.toml", "serve-token"]  # no *.tmp left behind
    assert r["config"] == SEED and r["serve_token"] == "old-token\n"


@pytest.mark.usefixtures("ns")
def test_read_only_home_is_one_line_and_nothing_changes(tmp_path: Path) -> None:
    r = scenario(tmp_path, "ro")
    for name in ("config_set", "endpoints_add", "threads", "fresh_home"):
        err = one_line(r["runs"][name])
        assert "read-only filesystem" in err and "BATON_HOME" in err
    assert r["token"]["error"] is not None and "read-only filesystem" in r["token"]["error"]
    assert r["files"] == ["config.toml", "serve-token"]
    assert r["config"] == SEED and r["serve_token"] == "old-token\n"


@pytest.mark.parametrize("argv", [["threads"], ["config", "set", "engine.n_ctx", "8192"], ["ask", "hi"],
                                  ["endpoints", "list"]])
@pytest.mark.parametrize("layout", ["file", "below_a_file"])
def test_baton_home_that_is_a_file_is_one_line(tmp_path: Path, argv: list[str], layout: str) -> None:
    f = tmp_path / "not-a-folder"
    f.write_text("hello\n")
    home = f if layout == "file" else f / "baton"
    proc = run_baton(home, *argv, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "not a folder" in proc.stderr or "a file stands where a folder should be" in proc.stderr
    assert "BATON_HOME" in proc.stderr
    assert f.read_text() == "hello\n"


def test_a_folder_where_the_config_file_should_be_is_one_line(baton_home: Path) -> None:
    (baton_home / "config" / "config.toml").mkdir(parents=True)
    proc = run_baton(baton_home, "config", "list")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "cannot read the config file" in proc.stderr


def test_atomic_write_replaces_with_the_mode_asked_and_leaves_no_temp(tmp_path: Path) -> None:
    tmp_path = tmp_path / "w"
    tmp_path.mkdir()
    target = tmp_path / "serve-token"
    atomic_write(target, "one\n", mode=0o600)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    atomic_write(target, b"two\n")
    assert target.read_bytes() == b"two\n" and stat.S_IMODE(os.stat(target).st_mode) == 0o600  # mode kept
    cfg = tmp_path / "config.toml"
    atomic_write(cfg, "x = 1\n")
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "serve-token"]


def test_atomic_write_into_a_missing_folder_is_a_home_error(tmp_path: Path) -> None:
    with pytest.raises(HomeError) as info:
        atomic_write(tmp_path / "gone" / "config.toml", "x = 1\n", what="the config file")
    assert "the config file" in str(info.value) and "\n" not in str(info.value)
