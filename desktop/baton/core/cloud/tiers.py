"""Remote tiers as the service sees them: privacy gate, key lookup, client, price and energy estimates."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from baton.config import Endpoint, Settings
from baton.core.errors import PrivacyBlocked
from baton.core.types import ChatMessage, Chunk, GenerationRequest, Measurement, Usage

CHARS_PER_TOKEN = 4.0  # rough, for the pre-send cost estimate only


class RemoteTier:
    """One endpoint: streams like an engine and prices what it did."""

    def __init__(self, endpoint: Endpoint, client: Any) -> None:
        self.endpoint = endpoint
        self._client = client

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[Chunk]:
        return self._client.stream(request, cancel)

    def cost_usd(self, usage: Usage) -> float:
        return self._client.cost_usd(usage)

    def estimate_usd(self, messages: list[ChatMessage], max_tokens: int) -> float:
        prompt_tokens = int(sum(len(m.content) for m in messages) / CHARS_PER_TOKEN) + 8 * len(messages)
        return self.cost_usd(Usage(prompt_tokens, max_tokens))

    def energy_measurement(self, usage: Usage) -> Measurement:
        return Measurement([self._client.energy_part(usage)], 0.0)


class CloudTiers:
    """Builds clients for the configured endpoints and applies the privacy gate before anything leaves."""

    def __init__(self, settings: Settings, credentials: Any = None) -> None:
        self.settings = settings
        self._credentials = credentials

    @property
    def credentials(self) -> Any:
        if self._credentials is None:
            from baton.core.cloud.credentials import Credentials

            self._credentials = Credentials()
        return self._credentials

    def client(self, endpoint: Endpoint) -> RemoteTier:
        from baton.core.cloud.client import CloudClient

        key = self.credentials.get(endpoint)
        return RemoteTier(endpoint, CloudClient(endpoint, key, offline=self.settings.is_offline))

    def prepare(self, messages: list[ChatMessage], action: str) -> tuple[list[ChatMessage], list[str]]:
        """Scan what would be sent; refuse (PrivacyBlocked) or redact per ``action``."""
        from baton.core.router import privacy

        outgoing: list[ChatMessage] = []
        found: list[str] = []
        for i, m in enumerate(messages):
            if action == "redact":
                text, findings = privacy.redact(m.content)
            else:
                text, findings = m.content, privacy.scan(m.content)
            found += [f"{f.kind} in message {i + 1} line {f.line}" for f in findings]
            outgoing.append(ChatMessage(m.role, text))
        if found and action != "redact":
            raise PrivacyBlocked(
                "not sent to the cloud: the conversation contains secrets (" + "; ".join(found[:5]) +
                "); remove them, or set routing.privacy to redact")
        return outgoing, found
