"""Baton: local-first AI with an honest receipt on every answer."""

__version__ = "0.1.0"
