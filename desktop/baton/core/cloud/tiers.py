"""Remote tiers: an OpenAI-compatible endpoint behind the privacy gate, priced by the endpoint's rates.

``CloudTiers`` builds one ``RemoteTier`` per endpoint (looking the key up in the keyring or the env var the
endpoint names). A ``RemoteTier`` answers a ``Turn`` like the local tier does: it applies the gate to the request
exactly as it will be sent (unless the endpoint is on this computer), asks the user first when the routing mode
says so, streams, and prices what ran (Units: USD from the endpoint's $/Mtok; J from its J/token estimate).
"""

from __future__ import annotations

from typing import Any

from baton.config import Endpoint, Settings
from baton.core.errors import PolicyError, PrivacyBlocked
from baton.core.pipeline.turn import TextSink, TierRun, Turn, where_of_url
from baton.core.results import EscalationPlan
from baton.core.types import ChatMessage, GenerationRequest, Measurement, Usage

CHARS_PER_TOKEN = 4.0  # rough, for the pre-send cost estimate only


def gate(messages: list[ChatMessage], action: str) -> tuple[list[ChatMessage], list[tuple[str, str]]]:
    """Scan the request as it will be sent: every message, the messages joined, and decoded blobs.

    ``action`` ``redact`` returns the messages with each secret replaced; anything else refuses. Returns
    (outgoing messages, [(kind, place)]). Raises ``PrivacyBlocked`` (with ``.findings``) when refusing.
    """
    from baton.core import privacy

    if action == "redact":
        outgoing, findings = privacy.redact_messages(messages)
    else:
        outgoing, findings = list(messages), privacy.scan_messages(messages)
    found = [(f.kind, f.describe()) for f in findings]
    if found and action != "redact":
        err = PrivacyBlocked(
            "not sent: the conversation contains secrets (" + "; ".join(p for _k, p in found[:5]) +
            "); remove them, or set routing.privacy to redact")
        err.findings = found  # type: ignore[attr-defined]
        raise err
    return outgoing, found


class RemoteTier:
    """One endpoint as a tier: gate, approval, stream, price."""

    kind = "cloud"

    def __init__(self, endpoint: Endpoint, client: Any, privacy: str = "refuse", ask_first: bool = False,
                 reason: str = "") -> None:
        self.ep = endpoint
        self.endpoint = endpoint.name
        self.model = endpoint.model
        self.where = where_of_url(endpoint.base_url)
        self._client = client
        self.privacy = privacy
        self.ask_first = ask_first
        self.reason = reason
        self._prepared: tuple[Turn, list[ChatMessage], list[tuple[str, str]]] | None = None

    def scrub(self, text: str) -> str:
        """``text`` without this endpoint's key or any credential header value (for errors shown or stored)."""
        scrub = getattr(self._client, "scrub", None)
        return scrub(text) if callable(scrub) else text

    # kept for callers that price before sending
    def cost_usd(self, usage: Usage) -> float:
        """Dollars for ``usage`` at the endpoint's rates (Units: USD)."""
        return float(self._client.cost_usd(usage))

    def estimate_usd(self, messages: list[ChatMessage], max_tokens: int) -> float:
        """A pre-send upper estimate (Units: USD): characters / 4 for the prompt, ``max_tokens`` for the answer."""
        prompt_tokens = int(sum(len(m.content) for m in messages) / CHARS_PER_TOKEN) + 8 * len(messages)
        return self.cost_usd(Usage(prompt_tokens, max_tokens))

    def energy_measurement(self, usage: Usage) -> Measurement:
        """The endpoint's joules for ``usage``, labelled as the estimate it is (its J/token setting)."""
        return Measurement([self._client.energy_part(usage)], 0.0)

    def outgoing(self, turn: Turn) -> tuple[list[ChatMessage], list[tuple[str, str]]]:
        """The messages as they will leave (gate applied unless the endpoint is on this computer)."""
        if self.where == "this_computer":  # nothing leaves the machine: no gate needed
            return list(turn.messages), []
        return gate(turn.messages, self.privacy)

    def prepare(self, turn: Turn) -> tuple[list[ChatMessage], list[tuple[str, str]]]:
        """Apply the gate and, in routing mode `ask`, get the user's approval: the messages that will be sent
        and what the gate redacted. Raises PrivacyBlocked or PolicyError; nothing has been sent then."""
        if self._prepared is not None and self._prepared[0] is turn:
            return self._prepared[1], self._prepared[2]
        outgoing, found = self.outgoing(turn)
        max_tokens = int(turn.params.max_tokens or 1)
        if self.ask_first:
            plan = EscalationPlan(self.endpoint, self.ep.base_url, self.model,
                                  "\n\n".join(f"{m.role}: {m.content}" for m in outgoing),
                                  self.estimate_usd(outgoing, max_tokens), self.reason, [p for _k, p in found])
            if turn.approve is None or not turn.approve(plan):
                raise PolicyError("routing mode is `ask` and sending to the cloud was not approved")
        self._prepared = (turn, outgoing, found)
        return outgoing, found

    def run(self, turn: Turn, sink: TextSink) -> TierRun:
        """Send the turn (``prepare`` first when it was not called). Raises PrivacyBlocked or PolicyError before
        anything is sent, CloudError after."""
        outgoing, found = self.prepare(turn)
        max_tokens = int(turn.params.max_tokens or 1)
        p = turn.params
        request = GenerationRequest(outgoing, max_tokens=max_tokens, temperature=float(p.temperature or 0.0),
                                    top_p=1.0 if p.top_p is None else float(p.top_p), seed=p.seed, stop=list(p.stop))
        completion = None
        for chunk in self._client.stream(request, turn.cancel):
            if chunk.text:
                sink(chunk.text)
            if chunk.completion is not None:
                completion = chunk.completion
        if completion is None:
            from baton.core.errors import CloudError

            raise CloudError(f"{self.endpoint} ended the answer without finishing it; try again")
        usage = completion.usage
        notices = [f"redacted {p}" for _k, p in found]
        if completion.finish_reason == "length":
            notices.append(f"{self.endpoint} cut the answer at the {max_tokens}-token limit; raise max_tokens "
                           "(`--max-tokens` in the CLI) for more")
        if getattr(usage, "estimated", False):
            notices.append(f"{self.endpoint} did not report token counts; they are estimated from the text")
        return TierRun(completion, outgoing, self.energy_measurement(usage), self.cost_usd(usage), 0.0, notices,
                       found)


class CloudTiers:
    """Builds a ``RemoteTier`` for a configured endpoint (its key from the keyring or its env var)."""

    def __init__(self, settings: Settings, credentials: Any = None, transport: Any = None) -> None:
        self.settings = settings
        self._credentials = credentials
        self.transport = transport  # an httpx transport for tests (the seam below the SDK), else None

    @property
    def credentials(self) -> Any:
        """The key store (OS keyring with env-var fallback), built on first use."""
        if self._credentials is None:
            from baton.core.cloud.credentials import Credentials

            self._credentials = Credentials()
        return self._credentials

    def client(self, endpoint: Endpoint, tokenizer: Any = None) -> Any:
        """An OpenAI-compatible client for ``endpoint``; ``tokenizer`` (text -> token count) estimates the tokens
        of a server that reports none. Raises CloudAuthError for an unusable key, NoKeyring for a broken keyring."""
        from baton.core.cloud.client import CloudClient

        key = self.credentials.get(endpoint)
        kwargs = {"transport": self.transport} if self.transport is not None else {}
        return CloudClient(endpoint, key, offline=self.settings.is_offline, tokenizer=tokenizer, **kwargs)

    def tier(self, endpoint: Endpoint, ask_first: bool = False, reason: str = "", tokenizer: Any = None) -> RemoteTier:
        """``endpoint`` as a tier that applies ``routing.privacy`` and, with ``ask_first``, asks before sending."""
        return RemoteTier(endpoint, self.client(endpoint, tokenizer), self.settings.routing.privacy, ask_first,
                          reason)
