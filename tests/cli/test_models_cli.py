"""`baton models`, `baton models catalog` and `baton models pull` through the real CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from baton.core.engine.defaults import DEFAULT_MODEL

from tests.helpers.gguf_writer import llama_like
from tests.helpers.proc import run_baton, run_json
from tests.helpers.range_server import RangeServer

CONTRACT_KEYS = {"id", "path", "origin", "name", "arch", "params", "quant", "size_bytes", "context_length",
                 "chat_template", "fit"}
FIT_KEYS = {"device", "n_gpu_layers", "ram_bytes", "vram_bytes", "reason"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "user-home"
    h.mkdir()
    return h


def env_for(home: Path) -> dict[str, str]:
    """A hermetic user home: no Ollama/HF locations leak in from the real environment."""
    return {"HOME": str(home), "OLLAMA_MODELS": "", "HF_HOME": "", "HF_HUB_CACHE": ""}


def models_dir(baton_home: Path) -> Path:
    return baton_home / "data" / "models"


def test_models_json_contract(baton_home: Path, home: Path, default_model_path: Path) -> None:
    doc = run_json(baton_home, "models", "--json", **env_for(home))
    assert isinstance(doc, list) and len(doc) == 1
    [m] = doc
    assert CONTRACT_KEYS <= set(m) and FIT_KEYS <= set(m["fit"])
    assert m["id"] == DEFAULT_MODEL.id and m["origin"] == "package" and m["path"] == str(default_model_path)
    assert m["fit"]["device"] in ("cpu", "gpu", "split") and m["fit"]["ram_bytes"] > 0
    assert isinstance(m["params"], int) and m["chat_template"] is True


def test_models_table_and_notes(baton_home: Path, home: Path, default_model_path: Path) -> None:
    md = models_dir(baton_home)
    md.mkdir(parents=True)
    llama_like(name="mine").write(md / "mine-q8.gguf")
    (md / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")
    lms = home / ".lmstudio" / "models" / "pub" / "repo"
    lms.mkdir(parents=True)
    (lms / "smol.gguf").symlink_to(default_model_path)
    proc = run_baton(baton_home, "models", **env_for(home))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "ORIGIN", "PARAMS"]
    assert any(line.startswith("mine-q8 ") and " baton " in line for line in lines)
    assert any(line.startswith("smol ") and " lmstudio " in line for line in lines)
    assert not any(line.startswith(DEFAULT_MODEL.id) for line in lines)  # the same file, listed once
    assert "skipped" in proc.stderr and "broken.gguf" in proc.stderr and "truncated" in proc.stderr


def test_catalog(baton_home: Path, home: Path) -> None:
    doc = run_json(baton_home, "models", "catalog", "--json", **env_for(home))
    assert len(doc) >= 15
    by_id = {m["id"]: m for m in doc}
    default = by_id[DEFAULT_MODEL.id]
    assert default["sha256"] == DEFAULT_MODEL.sha256 and default["size_bytes"] == DEFAULT_MODEL.size_bytes
    for m in doc:
        assert m["url"].startswith("https://huggingface.co/") or m["id"] == DEFAULT_MODEL.id
        assert m["ram_bytes"] > m["size_bytes"] * 0.9 and m["license"] and m["quant"]
        assert FIT_KEYS <= set(m["fit"])
    params = sorted(m["params"] for m in doc)
    assert params[0] < 200e6 and params[-1] >= 8e9  # ~135M to 8B+
    assert {"general", "coding"} <= {m["kind"] for m in doc}
    fits = run_json(baton_home, "models", "catalog", "--json", "--fits", **env_for(home))
    assert {m["id"] for m in fits} <= set(by_id) and all(m["fit"]["device"] != "none" for m in fits)
    human = run_baton(baton_home, "models", "catalog", **env_for(home))
    assert human.returncode == 0 and DEFAULT_MODEL.id in human.stdout and "RAM free" in human.stderr


def test_pull_default_model_over_loopback(baton_home: Path, home: Path, default_model_path: Path) -> None:
    with RangeServer({"SmolLM2-135M-Instruct.Q4_1.gguf": default_model_path}) as server:
        proc = run_baton(baton_home, "models", "pull", server.url("SmolLM2-135M-Instruct.Q4_1.gguf"),
                         "--sha256", DEFAULT_MODEL.sha256, "--json", **env_for(home))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    dest = models_dir(baton_home) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert doc["path"] == str(dest) and doc["sha256"] == DEFAULT_MODEL.sha256
    assert dest.stat().st_size == DEFAULT_MODEL.size_bytes
    assert "%" in proc.stderr and "saved" in proc.stderr  # progress and the closing line on stderr
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]
    listed = run_json(baton_home, "models", "--json", **env_for(home))
    assert [m["origin"] for m in listed] == ["package", "baton"]  # a real copy now: its own inode


def test_pull_resumes_after_a_drop(baton_home: Path, home: Path) -> None:
    data = llama_like(n_layers=4, n_embd=256, ff=512).to_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with RangeServer({"t.gguf": data}) as server:
        server.drop_after_bytes = len(data) // 3
        first = run_baton(baton_home, "models", "pull", server.url("t.gguf"), "--sha256", digest, **env_for(home))
        assert first.returncode == 1
        assert first.stderr.strip().splitlines()[-1].startswith("baton: the connection dropped")
        server.drop_after_bytes = None
        doc = run_json(baton_home, "models", "pull", server.url("t.gguf"), "--sha256", digest, "--json",
                       **env_for(home))
    assert doc["resumed_from"] == len(data) // 3 and not doc["restarted"]
    assert (models_dir(baton_home) / "t.gguf").read_bytes() == data


@pytest.mark.parametrize(
    ("case", "expect"),
    [("wrong-sha", "sha256 mismatch"), ("404", "HTTP 404"), ("not-gguf", "not a usable GGUF"),
     ("offline", "offline mode is on")],
)
def test_pull_failures_leave_nothing(baton_home: Path, home: Path, case: str, expect: str) -> None:
    data = llama_like().to_bytes()
    extra = dict(env_for(home))
    with RangeServer({"m.gguf": data, "page.gguf": b"<html>please log in</html>"}) as server:
        args = {
            "wrong-sha": [server.url("m.gguf"), "--sha256", "ab" * 32],
            "404": [server.url("gone.gguf")],
            "not-gguf": [server.url("page.gguf")],
            "offline": ["https://huggingface.co/org/repo/resolve/main/m.gguf"],
        }[case]
        if case == "offline":
            extra["BATON_OFFLINE"] = "1"
        proc = run_baton(baton_home, "models", "pull", *args, **extra)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("baton: ") and expect in last and "Traceback" not in proc.stderr
    md = models_dir(baton_home)
    assert not md.exists() or list(md.iterdir()) == []


def test_pull_catalog_default_is_already_there(baton_home: Path, home: Path, default_model_path: Path) -> None:
    doc = run_json(baton_home, "models", "pull", DEFAULT_MODEL.id, "--json", **env_for(home))
    assert doc["path"] == str(default_model_path) and doc["already_present"]


def test_pull_unknown_catalog_id_is_usage_error(baton_home: Path, home: Path) -> None:
    proc = run_baton(baton_home, "models", "pull", "qwen2.5-coder", **env_for(home))
    assert proc.returncode == 2 and "did you mean" in proc.stderr
