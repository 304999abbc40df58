"""An OpenAI-style chat server as an httpx transport: the seam below the cloud client for unit tests.

``ScriptedServer`` answers ``POST .../chat/completions`` with the next scripted answer, streamed as SSE chunks
(one per word, then a usage chunk and ``[DONE]``) or as one JSON body, and records every request body. An answer
scripted as an int is an HTTP error with that status and an OpenAI-style error body. Integration tests use real
loopback servers instead; this isolates the pipeline from the network.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import httpx


class ScriptedServer:
    def __init__(self) -> None:
        self.answers: deque[str | int] = deque()
        self.requests: list[dict[str, Any]] = []

    def enqueue(self, answer: str | int) -> None:
        self.answers.append(answer)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        self.requests.append(body)
        return self._handle_scripted(body)

    def _handle_scripted(self, body: dict[str, Any]) -> httpx.Response:
        answer = self.answers.popleft() if self.answers else "ok"
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": {"message": f"scripted failure {answer}",
                                                          "type": "server_error"}})
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        words = answer.split(" ")
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                 "total_tokens": prompt_tokens + len(words)}
        if not body.get("stream"):
            return httpx.Response(200, json={
                "id": "c1", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                             "finish_reason": "stop"}], "usage": usage})
        events = []
        for i, w in enumerate(words):
            piece = w if i == 0 else " " + w
            events.append({"id": "c1", "object": "chat.completion.chunk", "model": body.get("model"),
                           "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        events.append({"id": "c1", "object": "chat.completion.chunk", "model": body.get("model"),
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({"id": "c1", "object": "chat.completion.chunk", "model": body.get("model"), "choices": [],
                       "usage": usage})
        text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx.Response(200, content=text.encode(), headers={"content-type": "text/event-stream"})


class NoKeys:
    """Credentials with no key for any endpoint (the keyring is not touched)."""

    def get(self, endpoint: Any) -> None:
        return None


class EngineServer(ScriptedServer):
    """Like ``ScriptedServer``, but each answer is streamed from ``engine.stream`` (a FakeEngine), so tests that
    script a local and a remote engine the same way can keep doing so; the engine records what it was sent."""

    def __init__(self, engine: Any) -> None:
        super().__init__()
        self.engine = engine

    def _handle(self, request: httpx.Request) -> httpx.Response:
        from baton.core.types import ChatMessage, GenerationRequest

        body = json.loads(request.content or b"{}")
        self.requests.append(body)
        req = GenerationRequest([ChatMessage(m["role"], m["content"]) for m in body.get("messages", [])],
                                max_tokens=int(body.get("max_tokens") or 512))
        text = "".join(chunk.text for chunk in self.engine.stream(req, None))
        self.answers.appendleft(text)
        return self._handle_scripted(body)
