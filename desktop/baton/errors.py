"""The one documented error hierarchy.

Every message says what happened and what the user can do about it. The CLI prints
``str(error)`` as a single line and exits 1; the GUI shows it in the thread.

It sits below every other package (config and paths raise these too); ``baton.core.errors`` is the same
objects under the name the core and its callers use.
"""

from __future__ import annotations

__all__ = [
    "BatonError",
    "UsageError",
    "ModelError",
    "ModelDoesNotFit",
    "ContextOverflow",
    "ModelSettingError",
    "UnsupportedModel",
    "ModelFileNameError",
    "ModelLoadFailed",
    "CloudError",
    "CloudAuthError",
    "CloudRateLimited",
    "CloudTimeout",
    "CloudUnavailable",
    "StoreError",
    "NotFound",
    "SensorUnavailable",
    "PolicyError",
    "PrivacyBlocked",
    "DownloadError",
]


class BatonError(Exception):
    """Base of every error Baton raises on purpose."""


class UsageError(BatonError):
    """The caller asked for something that cannot be done as asked (empty prompt, bad flag)."""


class ModelError(BatonError):
    """A model file is missing, unreadable, not GGUF, corrupt, or cannot be loaded."""


class ModelDoesNotFit(ModelError):
    """The fit planner refused to load a model: not enough RAM/VRAM."""


class ContextOverflow(ModelError):
    """The prompt (plus the answer budget) is longer than the model's context window."""


class ModelSettingError(ModelError):
    """An engine setting (``engine.n_ctx``, ``engine.n_threads``) is outside what the machine or model allows."""


class UnsupportedModel(ModelError):
    """An intact GGUF that this llama.cpp build cannot run (an architecture it does not know, a big-endian file)."""


class ModelFileNameError(ModelError):
    """The model file's name cannot be handed to llama.cpp (not valid UTF-8, and no alias could be made)."""


class ModelLoadFailed(ModelError):
    """llama.cpp refused a file whose header reads fine, or could not create its context."""


class CloudError(BatonError):
    """A remote tier failed."""

    partial_text: str = ""  # text the remote tier streamed before it failed (kept, never lost)


class CloudAuthError(CloudError):
    """401/403: the key is missing, wrong or lacks permission."""


class CloudRateLimited(CloudError):
    """429: the endpoint asked us to slow down."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CloudTimeout(CloudError):
    """No first byte in time, or the stream stalled."""


class CloudUnavailable(CloudError):
    """5xx, connection refused, 404 model, a stream cut in the middle."""

    def __init__(self, message: str, partial_text: str = "") -> None:
        super().__init__(message)
        self.partial_text = partial_text


class StoreError(BatonError):
    """The SQLite store could not be read or written (disk full, locked, corrupt)."""


class NotFound(StoreError):
    """No thread or message has that id (or it was deleted)."""


class SensorUnavailable(BatonError):
    """A telemetry source cannot be read on this machine."""


class PolicyError(BatonError):
    """Routing refused the request (offline mode, budget, privacy gate, ask mode without approval)."""


class PrivacyBlocked(PolicyError):
    """The privacy gate found secrets in text that would leave the machine."""


class DownloadError(BatonError):
    """A model download failed (HTTP error, no space, wrong hash)."""
