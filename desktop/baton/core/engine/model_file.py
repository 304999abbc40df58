"""Handing a model file to llama.cpp, and saying in one line why llama.cpp refused it.

llama-cpp-python takes the path as ``str`` and encodes it as UTF-8, so a name that is not valid UTF-8
(``mod\\xe8le.gguf`` written by a Latin-1 system) cannot be passed as is: ``llama_path`` gives llama.cpp a
UTF-8 alias (a symbolic link in a private temporary folder) for the time of the load. ``load_failure``
turns llama.cpp's refusal (its exception plus the log lines it printed) and Baton's own reading of the
header into the right ``ModelError``: an architecture this build does not know, a big-endian file, a
truncated file, a context that could not be allocated, or the log's own reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from baton.core.errors import ModelFileNameError, ModelLoadFailed, UnsupportedModel
from baton.core.engine.gguf import read_gguf_info
from baton.core.engine.names import printable
from baton.core.errors import ModelError

_UNKNOWN_ARCH = re.compile(r"unknown model architecture: '([^']*)'")
_ERROR_LINE = re.compile(r"error loading model: (.+)")
_CAUSE_LINE = re.compile(r"^(?:gguf_\w+|llama_model_loader|llama_model_load): (.+)$", re.M)
_NOT_A_CAUSE = ("failed to load model", "failed to read key-value pairs", "error loading model")


@contextlib.contextmanager
def llama_path(path: Path) -> Iterator[str]:
    """A ``str`` path to ``path`` that encodes as UTF-8 (the path itself when it does). Raises
    ``ModelFileNameError`` when no alias can be made."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        yield text
        return
    folder = tempfile.mkdtemp(prefix="baton-model-")
    alias = os.path.join(folder, "model.gguf")
    try:
        try:
            os.symlink(os.path.abspath(path), alias)
        except (OSError, NotImplementedError):
            raise ModelFileNameError(
                f"the file name {printable(path.name)!r} is not valid UTF-8 and llama.cpp cannot open it; "
                "rename the file (for example to model.gguf)") from None
        yield alias
    finally:
        with contextlib.suppress(OSError):
            os.unlink(alias)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def load_failure(path: Path, n_ctx: int, error: str, logs: list[str]) -> ModelError:
    """The ModelError to raise when ``llama_cpp.Llama(path)`` failed with ``error`` after logging ``logs``."""
    name = printable(path.name)
    log = "".join(logs)
    m = _UNKNOWN_ARCH.search(log)
    if m:
        return UnsupportedModel(
            f"this llama.cpp build does not support architecture {m.group(1)} ({name}); update llama-cpp-python "
            "(`pip install -U llama-cpp-python`) or pick another model")
    if "context" in error.lower() and "model" not in error.lower():
        return ModelLoadFailed(
            f"llama.cpp loaded {name} but could not create a {n_ctx}-token context (out of memory?); "
            "lower engine.n_ctx or close other apps")
    try:
        info = read_gguf_info(path)
    except ModelError as e:
        return e  # the header itself is bad: its message says how
    if info.byte_order == "big":
        return UnsupportedModel(
            f"{name} is a big-endian GGUF, which llama.cpp reads only on big-endian machines; "
            "download the little-endian file")
    ends = [t.offset + (t.size_bytes or 0) for t in info.tensors]
    if info.data_offset and ends and info.data_offset + max(ends) > info.size_bytes:
        return ModelError(
            f"{name} is truncated: its tensors need {info.data_offset + max(ends)} bytes but the file has "
            f"{info.size_bytes}; download it again")
    causes = [c.strip() for c in _CAUSE_LINE.findall(log) if not any(n in c for n in _NOT_A_CAUSE)]
    errors = _ERROR_LINE.findall(log)
    why = causes[0] if causes else errors[-1].strip() if errors else (error.strip() or "no reason given")
    arch = f" (architecture {info.arch})" if info.arch else ""
    return ModelLoadFailed(
        f"llama.cpp refused {name}{arch}: {why}; Baton reads its header, so the file is intact but not in a form "
        "this llama.cpp build accepts: update llama-cpp-python, or download or convert the model again")
