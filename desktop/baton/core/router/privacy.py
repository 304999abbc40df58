"""Moved to ``baton.core.privacy``; this name stays until every caller imports it from there."""

from __future__ import annotations

from baton.core.privacy import (  # noqa: F401
    Finding,
    entropy_bits,
    is_placeholder,
    looks_random,
    redact,
    redact_messages,
    scan,
    scan_messages,
    summary,
)
