"""Model discovery on real store layouts (Ollama, LM Studio, HF cache, GPT4All, Jan) in a tmp home."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from baton.config import Settings
from baton.core.engine import discovery
from baton.core.engine.defaults import DEFAULT_MODEL
from baton.core.engine.discovery import discover_models, scan_models
from baton.core.engine.gguf import read_gguf_info
from baton.paths import Paths

from tests.helpers.gguf_writer import UINT16, Typed, llama_like

GiB = 1 << 30
CONTRACT_KEYS = {"id", "path", "origin", "name", "arch", "params", "quant", "size_bytes", "context_length",
                 "chat_template", "fit"}
FIT_KEYS = {"device", "n_gpu_layers", "ram_bytes", "vram_bytes", "reason"}


@pytest.fixture
def paths() -> Paths:
    return Paths.from_env().ensure()  # BATON_HOME is a tmp dir (conftest)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def link(src: Path, dst: Path, kind: str = "hard") -> Path:
    """Put ``src`` at ``dst`` by reference: a hard link where the filesystem allows, else a symlink."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if kind == "hard":
        try:
            os.link(src, dst)
            return dst
        except OSError:
            pass
    dst.symlink_to(src)
    return dst


def scan(paths: Paths, home: Path, settings: Settings | None = None, env: dict[str, str] | None = None):
    return scan_models(paths, settings or Settings(), home=home, env=env or {}, gpu=False, free_ram_bytes=16 * GiB)


def ollama_store(root: Path, model: Path, name: tuple[str, str, str, str], digest: str = "ab" * 32) -> Path:
    host, ns, repo, tag = name
    blob = link(model, root / "blobs" / f"sha256-{digest}")
    (root / "blobs" / f"sha256-{'cd' * 32}").write_text("Apache License 2.0")
    manifest = root / "manifests" / host / ns / repo / tag
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:" + "ef" * 32},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": 1},
            {"mediaType": "application/vnd.ollama.image.license", "digest": f"sha256:{'cd' * 32}", "size": 1},
        ],
    }))
    return blob


def hf_store(hub: Path, model: Path, repo: str, filename: str, revs: tuple[str, ...] = ("a1b2c3",)) -> list[Path]:
    base = hub / ("models--" + repo.replace("/", "--"))
    blob = link(model, base / "blobs" / ("0f" * 32))
    out = []
    for rev in revs:
        snap = base / "snapshots" / rev / filename
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.symlink_to(os.path.relpath(blob, snap.parent))
        out.append(snap)
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text(revs[-1])
    return out


def only_entry(models: list, path: Path) -> dict:
    hits = [m for m in models if Path(m.path) == path]
    assert len(hits) == 1, [m.path for m in models]
    return hits[0].to_dict()


def same_file_entries(models: list, target: Path) -> list:
    st = target.stat()
    return [m for m in models if (Path(m.path).stat().st_dev, Path(m.path).stat().st_ino) == (st.st_dev, st.st_ino)]


def test_default_model_alone(paths: Paths, home: Path, default_model_path: Path) -> None:
    res = scan(paths, home)
    [entry] = res.models
    d = entry.to_dict()
    assert CONTRACT_KEYS <= set(d) and FIT_KEYS <= set(d["fit"])
    assert (d["id"], d["origin"], d["path"]) == (DEFAULT_MODEL.id, "package", str(default_model_path))
    assert (d["arch"], d["quant"], d["context_length"], d["chat_template"]) == ("llama", "Q4_1", 8192, True)
    assert d["size_bytes"] == DEFAULT_MODEL.size_bytes and d["fit"]["device"] == "cpu"
    json.dumps(d)  # serialisable as is


def test_ollama_layout(paths: Paths, home: Path, default_model_path: Path) -> None:
    root = home / ".ollama" / "models"
    blob = ollama_store(root, default_model_path, ("registry.ollama.ai", "library", "smollm2", "135m"),
                        DEFAULT_MODEL.sha256)
    res = scan(paths, home)
    assert len(same_file_entries(res.models, default_model_path)) == 1
    d = only_entry(res.models, blob)
    assert (d["origin"], d["name"], d["id"]) == ("ollama", "smollm2:135m", "smollm2:135m")
    assert {"origin": "package", "path": str(default_model_path)} in d["also_at"]
    assert d["arch"] == "llama" and d["quant"] == "Q4_1"
    assert not any(paths.models_dir.iterdir())  # nothing copied into Baton's own dir


def test_ollama_models_env_and_names(paths: Paths, home: Path, tmp_path: Path) -> None:
    a = llama_like(name="A").write(tmp_path / "a.bin")
    b = llama_like(name="B", n_layers=3).write(tmp_path / "b.bin")
    root = tmp_path / "elsewhere"
    blob_a = ollama_store(root, a, ("registry.ollama.ai", "someone", "tiny", "latest"), "11" * 32)
    blob_b = ollama_store(root, b, ("hf.co", "bartowski", "Tiny-GGUF", "Q8_0"), "22" * 32)
    res = scan(paths, home, env={"OLLAMA_MODELS": str(root)})
    assert only_entry(res.models, blob_a)["name"] == "someone/tiny:latest"
    assert only_entry(res.models, blob_b)["name"] == "hf.co/bartowski/Tiny-GGUF:Q8_0"


def test_ollama_missing_blob_and_bad_manifest_are_notes(paths: Paths, home: Path, tmp_path: Path) -> None:
    root = home / ".ollama" / "models"
    blob = ollama_store(root, llama_like().write(tmp_path / "m.bin"), ("registry.ollama.ai", "library", "x", "1b"))
    blob.unlink()
    bad = root / "manifests" / "registry.ollama.ai" / "library" / "y" / "2b"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    res = scan(paths, home)
    reasons = " | ".join(s.reason for s in res.skipped)
    assert "x:1b: its blob is missing" in reasons and "unreadable Ollama manifest for y:2b" in reasons
    assert [m.origin for m in res.models] == ["package"]


@pytest.mark.parametrize("store", [".lmstudio/models", ".cache/lm-studio/models"])
def test_lmstudio_layout(paths: Paths, home: Path, default_model_path: Path, store: str) -> None:
    p = link(default_model_path, home / store / "bartowski" / "SmolLM2-GGUF" / "SmolLM2-135M-Instruct-Q4_1.gguf",
             "sym")
    res = scan(paths, home)
    assert len(same_file_entries(res.models, default_model_path)) == 1
    d = only_entry(res.models, p)
    assert (d["origin"], d["name"], d["id"]) == ("lmstudio", "SmolLM2-135M-Instruct-Q4_1", "smollm2-135m-instruct-q4_1")
    assert p.is_symlink()  # listed by reference, the link is untouched


def test_hf_cache_layout(paths: Paths, home: Path, default_model_path: Path) -> None:
    hub = home / ".cache" / "huggingface" / "hub"
    snaps = hf_store(hub, default_model_path, "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
                     "smollm2-135m-instruct-q4_1.gguf", revs=("rev1", "rev2"))
    res = scan(paths, home)
    assert len(same_file_entries(res.models, default_model_path)) == 1
    [entry] = [m for m in res.models if m.origin == "hf-cache"]
    assert Path(entry.path) in snaps and entry.path.startswith(str(hub))
    assert entry.name == "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m-instruct-q4_1"
    assert {a["origin"] for a in entry.also_at} == {"hf-cache", "package"}


def test_hf_home_env(paths: Paths, home: Path, tmp_path: Path) -> None:
    m = llama_like(name="hf").write(tmp_path / "hf.bin")
    [snap] = hf_store(tmp_path / "hfhome" / "hub", m, "org/Tiny-GGUF", "sub/tiny-q8_0.gguf")
    res = scan(paths, home, env={"HF_HOME": str(tmp_path / "hfhome")})
    assert only_entry(res.models, snap)["origin"] == "hf-cache"


def test_every_store_at_once(paths: Paths, home: Path, tmp_path: Path, default_model_path: Path) -> None:
    """The default model linked into every store is listed once; each store's own model once."""
    own = {k: llama_like(name=k).write(tmp_path / f"{k}.bin") for k in
           ("ollama", "lmstudio", "hf", "gpt4all", "jan", "jan2", "baton", "folder")}
    where = {
        "ollama": ollama_store(home / ".ollama/models", own["ollama"], ("registry.ollama.ai", "library", "t", "1"),
                               "33" * 32),
        "lmstudio": link(own["lmstudio"], home / ".lmstudio/models/pub/repo/lm.gguf"),
        "hf-cache": hf_store(home / ".cache/huggingface/hub", own["hf"], "org/r", "hf.gguf")[0],
        "gpt4all": link(own["gpt4all"], home / ".local/share/nomic.ai/GPT4All/g4a.gguf"),
        "jan": link(own["jan"], home / "jan/models/tiny/model.gguf"),
        "jan2": link(own["jan2"], home / ".local/share/Jan/data/llamacpp/models/tiny2/model.gguf"),
        "baton": link(own["baton"], paths.models_dir / "mine.gguf"),
        "folder": link(own["folder"], tmp_path / "my-models" / "deep" / "f.gguf"),
    }
    ollama_store(home / ".ollama/models", default_model_path, ("registry.ollama.ai", "library", "smollm2", "135m"),
                 "44" * 32)
    link(default_model_path, home / ".lmstudio/models/HF/SmolLM2/default.gguf", "sym")
    hf_store(home / ".cache/huggingface/hub", default_model_path, "HuggingFaceTB/SmolLM2", "smol.gguf")
    link(default_model_path, home / ".local/share/nomic.ai/GPT4All/smol.gguf", "sym")
    link(default_model_path, home / "jan/models/smol/model.gguf", "sym")
    settings = Settings(model_dirs=[str(tmp_path / "my-models")])
    res = scan(paths, home, settings)
    for key, path in where.items():
        origin = "jan" if key == "jan2" else key
        assert only_entry(res.models, path)["origin"] == origin
    [default] = same_file_entries(res.models, default_model_path)
    assert default.origin == "ollama" and len(default.also_at) == 5
    assert len(res.models) == len(where) + 1
    ids = [m.id for m in res.models]
    assert len(set(ids)) == len(ids)
    assert res.skipped == []


def test_hardlinked_twice_listed_once(paths: Paths, home: Path, tmp_path: Path) -> None:
    src = llama_like().write(paths.models_dir / "tiny.gguf")
    link(src, home / ".lmstudio/models/a/b/tiny-copy.gguf", "hard")
    res = scan(paths, home)
    [entry] = [m for m in res.models if m.origin != "package"]
    assert entry.origin == "lmstudio" and entry.also_at == [{"origin": "baton", "path": str(src)}]


def test_broken_files_are_notes_not_failures(paths: Paths, home: Path) -> None:
    good = llama_like().write(paths.models_dir / "good.gguf")
    (paths.models_dir / "readme.gguf").write_text("not a model")
    (paths.models_dir / "cut.gguf").write_bytes(llama_like().to_bytes()[:300])
    (paths.models_dir / "gone.gguf").symlink_to(paths.models_dir / "nowhere.gguf")
    (paths.models_dir / "half.gguf.part").write_bytes(b"GGUF")  # an unfinished download is ignored
    clip = llama_like(arch="clip", name="proj").write(paths.models_dir / "mmproj-model-f16.gguf")
    res = scan(paths, home)
    assert [Path(m.path) for m in res.models if m.origin == "baton"] == [good]
    notes = {Path(s.path).name: s.reason for s in res.skipped}
    assert "not a GGUF" in notes["readme.gguf"] and "truncated" in notes["cut.gguf"]
    assert "broken link" in notes["gone.gguf"] and "vision projector" in notes[clip.name]
    assert "half.gguf.part" not in notes


def _write_split(folder: Path, count: int = 3) -> list[Path]:
    out = []
    for i in range(count):
        split = {"split.no": Typed(UINT16, i), "split.count": Typed(UINT16, count)}
        w = llama_like(n_layers=2, name="Split", extra=split)
        if i:  # later parts carry only tensors
            w.metadata = {"split.no": Typed(UINT16, i), "split.count": Typed(UINT16, count)}
        out.append(w.write(folder / f"big-model-q4-{i + 1:05d}-of-{count:05d}.gguf"))
    return out


def test_split_gguf_listed_once(paths: Paths, home: Path) -> None:
    parts = _write_split(paths.models_dir)
    res = scan(paths, home)
    [entry] = [m for m in res.models if m.origin == "baton"]
    assert Path(entry.path) == parts[0] and entry.shards == 3
    assert entry.size_bytes == sum(p.stat().st_size for p in parts)
    one = read_gguf_info(parts[0]).params or 0
    assert one > 0 and entry.params == 3 * one  # each part here holds a full set of tensors


def test_split_gguf_missing_part_is_a_note(paths: Paths, home: Path) -> None:
    parts = _write_split(paths.models_dir)
    parts[2].unlink()
    res = scan(paths, home)
    assert [m.origin for m in res.models] == ["package"]
    assert any("missing 1 of 3 parts" in s.reason for s in res.skipped)


def test_rescan_reads_no_headers(paths: Paths, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        llama_like(name=f"m{i}").write(paths.models_dir / f"m{i}.gguf")
    (paths.models_dir / "bad.gguf").write_text("nope")
    calls: list[Path] = []
    real = discovery.read_gguf_info

    def counting(p: Path, *a: object, **k: object) -> object:
        calls.append(Path(p))
        return real(p, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(discovery, "read_gguf_info", counting)
    first = scan(paths, home)
    assert len(calls) == 5  # the default model, three models, one bad file
    calls.clear()
    second = scan(paths, home)
    assert calls == []
    assert [m.to_dict() for m in second.models] == [m.to_dict() for m in first.models]
    assert [s.reason for s in second.skipped] == [s.reason for s in first.skipped]
    llama_like(name="changed", n_layers=4).write(paths.models_dir / "m1.gguf")
    third = scan(paths, home)
    assert calls == [paths.models_dir / "m1.gguf"]
    assert [m.name for m in third.models if m.origin == "baton"] == ["m0", "m1", "m2"]


def test_corrupt_cache_is_ignored(paths: Paths, home: Path) -> None:
    (paths.cache_dir / discovery.CACHE_FILE).write_text("{garbage")
    assert [m.origin for m in scan(paths, home).models] == ["package"]


def test_discover_models_fit_uses_settings_context(paths: Paths, home: Path) -> None:
    s = Settings()
    s.engine.n_ctx = 1024
    [entry] = discover_models(paths, s, home=home, env={}, gpu=False, free_ram_bytes=16 * GiB)
    assert entry.fit is not None and entry.fit.n_ctx == 1024
    [tight] = discover_models(paths, s, home=home, env={}, gpu=False, free_ram_bytes=50_000_000)
    assert tight.fit is not None and tight.fit.device == "none"
