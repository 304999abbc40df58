"""Model errors the engine raises, each a ``ModelError`` with a one-line message that says what to do.

(They belong beside the others in ``baton.core.errors``; they live here until that module takes them.)
"""

from __future__ import annotations

from baton.core.errors import ModelError


class ModelSettingError(ModelError):
    """An engine setting (``engine.n_ctx``, ``engine.n_threads``) is outside what the machine or model allows."""


class UnsupportedModel(ModelError):
    """An intact GGUF that this llama.cpp build cannot run (an architecture it does not know, a big-endian file)."""


class ModelFileNameError(ModelError):
    """The model file's name cannot be handed to llama.cpp (not valid UTF-8, and no alias could be made)."""


class ModelLoadFailed(ModelError):
    """llama.cpp refused a file whose header reads fine, or could not create its context."""
