"""The privacy gate: find secrets in what would leave the machine, before it leaves.

Request level (what the pipeline calls; ``messages`` are ``baton.core.types.ChatMessage``):
- ``scan_messages(messages) -> list[Finding]``: every message, the messages joined (a token split
  across two turns is found), and the decoded form of encoded blobs (base64, hex, URL encoding,
  string escapes such as a PEM key written with ``\\n``).
- ``redact_messages(messages) -> (messages, findings)``: every secret replaced by
  ``[REDACTED:kind]``, both halves of a split token included (only the halves: the words around
  them stay). The first half of a provider token with no rest in the request is still found
  (kind ``partial_<kind>``), and a later turn's rest of an already redacted first half too.
- ``redact_in_context(messages, context)``: new turns redacted as they read after the earlier turns
  of the request (to store a question exactly as it was sent).
Text level, for one string: ``scan(text)``, ``redact(text)``, ``summary(findings)``.

A ``Finding`` holds the kind and the place (message index, line, span), never the secret.
What is recognised: provider token shapes (cloud, VCS, chat, payment, AI providers, JWTs), private
keys in every armour (PEM with headers, PGP, OpenSSH, PuTTY, escaped, bare DER), credentials in
URLs and connection strings, assignments in code and config, ``.env`` blocks, command-line flags
(``curl -u``, ``mysql -p``), ``.netrc`` lines and prose ("my password is ...", "mot de passe : ...",
"Passwort ist ...", "пароль: ...", and some twenty other languages); a password is redacted up to
the next space or closing quote. Placeholders
(``<your-key>``, ``${TOKEN}``, ``sk-...``, ``YOUR_API_KEY``), documented example keys, hashes, UUIDs
and images are not secrets. Known misses, by choice: a passphrase of plain words, a letters-only
value that reads as a word.
"""

from __future__ import annotations

from baton.core.privacy.request import Finding, redact_in_context, redact_messages, scan_messages
from baton.core.privacy.text import entropy_bits, is_placeholder, looks_random

__all__ = ["Finding", "entropy_bits", "is_placeholder", "looks_random", "redact", "redact_in_context",
           "redact_messages", "scan", "scan_messages", "summary"]


class _Text:
    """A one-message request around a bare string."""

    def __init__(self, content: str) -> None:
        self.role = "user"
        self.content = content


def scan(text: str) -> list[Finding]:
    """Every secret in one ``text``, in order of position (``message_index`` is 0)."""
    return scan_messages([_Text(text)])


def redact(text: str) -> tuple[str, list[Finding]]:
    """``text`` with every secret replaced by ``[REDACTED:kind]``, and the findings."""
    from baton.core.types import ChatMessage

    out, findings = redact_messages([ChatMessage("user", text)])
    return out[0].content, findings


def summary(findings: list[Finding], limit: int = 5) -> str:
    """One line naming what was found and where (never the secret), e.g. for an error message."""
    parts = [f.describe() for f in findings[:limit]]
    more = f" and {len(findings) - limit} more" if len(findings) > limit else ""
    return "; ".join(parts) + more
