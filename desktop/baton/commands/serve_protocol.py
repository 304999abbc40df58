"""The OpenAI wire format of `baton serve`: a chat-completion body checked and turned into what the service
takes, errors as OpenAI error bodies, and the answer turned back into OpenAI documents.

Nothing here touches the network or the service: every function is plain data in, plain data out, so the
server's checks can be read (and tested) apart from the server.

What a client may send to ``/v1/chat/completions`` (anything else that is not ``null`` is refused with HTTP 400,
never ignored):

- ``messages`` (required): a non-empty list of ``{"role", "content"}``; roles ``system`` (or ``developer``, its
  newer name), ``user``, ``assistant``; the last one must be the user's; content a non-empty string, or a list of
  ``{"type": "text", "text"}`` parts (joined); ``name`` is accepted and not used.
- ``model``: an id that ``/v1/models`` lists (default ``baton``).
- ``temperature`` (0..2), ``top_p`` (0..1), ``stop`` (a string or up to 4), ``seed`` (an integer),
  ``max_tokens`` / ``max_completion_tokens`` (positive integers; the second wins).
- ``stream``, ``stream_options.include_usage``; ``n`` only 1; ``logprobs`` only false; ``response_format`` only
  ``{"type": "text"}``; ``frequency_penalty`` / ``presence_penalty`` only 0; ``user``, ``metadata``, ``store``,
  ``service_tier`` accepted and not used (they change nothing in the answer).
- ``baton_thread_id``: continue a stored Baton thread.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from baton.core.errors import (
    BatonError,
    NotFound,
    CloudError,
    CloudRateLimited,
    CloudTimeout,
    ContextOverflow,
    ModelDoesNotFit,
    ModelError,
    PolicyError,
    StoreError,
    UsageError,
)
from baton.core.types import ChatMessage, SamplingParams

VIRTUAL_MODELS = {"baton": "auto", "baton-local": "local", "baton-cloud": "cloud"}
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_STOP = 4
MAX_SEED = 2**63 - 1
# Parameters that change nothing in the answer: accepted, not used.
_INERT = {"user", "metadata", "store", "service_tier"}
_HANDLED = {"messages", "model", "temperature", "top_p", "stop", "seed", "max_tokens", "max_completion_tokens",
            "stream", "stream_options", "n", "logprobs", "top_logprobs", "response_format", "frequency_penalty",
            "presence_penalty", "tools", "functions", "tool_choice", "function_call", "parallel_tool_calls",
            "logit_bias", "baton_thread_id"}
_REFUSED_WHY = {
    "tools": "Baton's models do not call tools",
    "functions": "Baton's models do not call functions",
    "tool_choice": "Baton's models do not call tools",
    "function_call": "Baton's models do not call functions",
    "parallel_tool_calls": "Baton's models do not call tools",
    "top_logprobs": "Baton does not return log-probabilities",
    "logit_bias": "Baton cannot bias tokens",
}


class ApiError(Exception):
    """An answer that is an OpenAI error body: HTTP ``status``, ``message`` (one line saying what to do),
    ``type`` (``invalid_request_error``, ``authentication_error``, ...), ``param`` (the offending field or None),
    ``code`` (a short machine-readable reason or None) and extra response ``headers``."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad(message: str, param: str | None = None, code: str | None = "invalid_value") -> ApiError:
    """A 400 ``invalid_request_error`` about ``param``."""
    return ApiError(400, message, "invalid_request_error", param, code)


@dataclass
class ChatRequest:
    """One checked chat-completion request, in the service's terms. ``tier``/``model``/``endpoint`` are filled by
    :func:`resolve_model` (the body alone cannot say which ids exist)."""

    model_arg: str
    messages: list[ChatMessage]
    params: SamplingParams
    stream: bool = False
    include_usage: bool = False
    thread_id: str | None = None
    tier: str = "auto"
    model: str | None = None
    endpoint: str | None = None
    warnings: list[str] = field(default_factory=list)


# ---- checking a body ---------------------------------------------------------------------------------------

def _text_ok(value: str, param: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad(f"`{param}` holds text that is not valid Unicode (a lone surrogate such as \\ud800); "
                  "send UTF-8 text", param) from None
    return value


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _content(raw: Any, param: str) -> str:
    if isinstance(raw, list):
        texts = []
        for j, part in enumerate(raw):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise bad(f"`{param}[{j}]` is a `{kind}` part; Baton takes text parts only "
                          "({\"type\": \"text\", \"text\": ...})", f"{param}[{j}]")
            texts.append(part["text"])
        raw = "".join(texts)
    if not isinstance(raw, str):
        raise bad(f"`{param}` must be a string (or a list of text parts)", param, "invalid_type")
    if not raw.strip():
        raise bad(f"`{param}` is empty; every message needs some text", param)
    return _text_ok(raw, param)


def parse_messages(raw: Any) -> list[ChatMessage]:
    """The client's messages as ChatMessages, in order and unchanged (``developer`` is ``system``).
    Errors: :class:`ApiError` 400 naming the message at fault."""
    if raw is None:
        raise bad("`messages` is required: a non-empty list of {role, content}", "messages", "missing_required")
    if not isinstance(raw, list) or not raw:
        raise bad("`messages` must be a non-empty list of {role, content}", "messages")
    out: list[ChatMessage] = []
    for i, m in enumerate(raw):
        p = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad(f"`{p}` must be an object with `role` and `content`", p, "invalid_type")
        role = m.get("role")
        if role in ("tool", "function") or m.get("tool_calls") or m.get("function_call") or m.get("tool_call_id"):
            raise bad(f"`{p}` is a tool message or a tool call; Baton's models do not call tools", p,
                      "unsupported_value")
        if not isinstance(role, str) or role not in ROLES:
            raise bad(f"`{p}.role` must be one of system, user, assistant (got {str(role)[:40]!r})",
                      f"{p}.role")
        extra = sorted(k for k, v in m.items() if k not in ("role", "content", "name") and v is not None)
        if extra:
            raise bad(f"`{p}` has `{extra[0]}`, which Baton does not support", f"{p}.{extra[0]}",
                      "unsupported_parameter")
        out.append(ChatMessage(ROLES[role], _content(m.get("content"), f"{p}.content")))
    if out[-1].role != "user":
        raise bad("the last message must be the user's: Baton answers a user turn", f"messages[{len(out) - 1}]")
    return out


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if not _is_num(v) or not lo <= v <= hi:
        raise bad(f"`{key}` must be a number from {lo:g} to {hi:g}", key)
    return float(v)


def _stop(v: Any) -> list[str]:
    if v is None:
        return []
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise bad("`stop` must be a string or a list of strings", "stop", "invalid_type")
    if len(items) > MAX_STOP:
        raise bad(f"`stop` takes at most {MAX_STOP} sequences", "stop")
    if any(not s for s in items):
        raise bad("`stop` sequences must not be empty", "stop")
    return [_text_ok(s, "stop") for s in items]


def _max_tokens(body: dict[str, Any]) -> int | None:
    value = None
    for key in ("max_tokens", "max_completion_tokens"):  # the newer name wins
        v = body.get(key)
        if v is None:
            continue
        if not _is_int(v) or v < 1:
            raise bad(f"`{key}` must be a positive integer", key)
        value = v
    return value


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for key, why in _REFUSED_WHY.items():
        if body.get(key) is not None:
            raise bad(f"`{key}` is not supported: {why}", key, "unsupported_parameter")
    n = body.get("n")
    if n is not None and (not _is_int(n) or n < 1):
        raise bad("`n` must be a positive integer", "n")
    if n is not None and n > 1:
        raise bad("`n` > 1 is not supported: Baton gives one answer per request; send n requests", "n",
                  "unsupported_value")
    if body.get("logprobs") not in (None, False):
        raise bad("`logprobs` is not supported: Baton does not return log-probabilities", "logprobs",
                  "unsupported_value")
    fmt = body.get("response_format")
    if fmt is not None and fmt != {"type": "text"}:
        kind = fmt.get("type") if isinstance(fmt, dict) else fmt
        raise bad(f"`response_format` {str(kind)[:40]!r} is not supported; Baton answers in plain text only",
                  "response_format", "unsupported_value")
    for key in ("frequency_penalty", "presence_penalty"):
        v = body.get(key)
        if v is not None and (not _is_num(v) or v != 0):
            raise bad(f"`{key}` is not supported (only 0)", key, "unsupported_value")
    unknown = sorted(k for k, v in body.items() if k not in _HANDLED and k not in _INERT and v is not None)
    if unknown:
        raise bad(f"`{unknown[0]}` is not a parameter Baton supports", unknown[0], "unsupported_parameter")


def parse_chat_request(body: Any, header_thread_id: str | None = None) -> ChatRequest:
    """Check a decoded JSON body of ``POST /v1/chat/completions`` and return it as a :class:`ChatRequest`.
    Errors: :class:`ApiError` 400 with the offending ``param``; nothing is silently dropped."""
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object", None, "invalid_type")
    _refuse_unsupported(body)
    model_arg = body.get("model", "baton")
    if model_arg is None:
        model_arg = "baton"
    if not isinstance(model_arg, str) or not model_arg:
        raise bad("`model` must be a string: one of the ids /v1/models lists", "model", "invalid_type")
    _text_ok(model_arg, "model")
    messages = parse_messages(body.get("messages"))
    seed = body.get("seed")
    if seed is not None and (not _is_int(seed) or abs(seed) > MAX_SEED):
        raise bad("`seed` must be an integer", "seed")
    params = SamplingParams(max_tokens=_max_tokens(body), temperature=_number(body, "temperature", 0.0, 2.0),
                            top_p=_number(body, "top_p", 0.0, 1.0), stop=_stop(body.get("stop")), seed=seed)
    stream = body.get("stream")
    if stream not in (None, True, False):
        raise bad("`stream` must be true or false", "stream", "invalid_type")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise bad("`stream_options` is only allowed with `stream: true`", "stream_options")
        if not isinstance(options, dict) or any(k != "include_usage" for k in options) \
                or options.get("include_usage") not in (None, True, False):
            raise bad("`stream_options` takes only {\"include_usage\": true|false}", "stream_options")
        include_usage = bool(options.get("include_usage"))
    thread_id = body.get("baton_thread_id") or header_thread_id or None
    if thread_id is not None and (not isinstance(thread_id, str) or not thread_id.isascii()
                                  or not thread_id.replace("-", "").isalnum() or len(thread_id) > 64):
        raise bad("`baton_thread_id` must be a thread id from `baton threads`", "baton_thread_id")
    return ChatRequest(model_arg=model_arg, messages=messages, params=params, stream=bool(stream),
                       include_usage=include_usage, thread_id=thread_id)


def resolve_model_id(arg: str, local_ids: list[str], endpoint_names: list[str]) -> tuple[str, str | None, str | None]:
    """``(tier, model, endpoint)`` for a client's ``model``: a virtual id (``baton``, ``baton-local``,
    ``baton-cloud``), a local model id, or an endpoint name; nothing else (never a path).
    Errors: :class:`ApiError` 404 ``model_not_found``, which does not echo the id it was given."""
    if arg in VIRTUAL_MODELS:
        return VIRTUAL_MODELS[arg], None, None
    if arg in local_ids:
        return "local", arg, None
    if arg in endpoint_names:
        return "cloud", None, arg
    raise ApiError(404, "the model is not one this server offers; use an id that GET /v1/models lists "
                        "(for example `baton`)", "invalid_request_error", "model", "model_not_found")


def resolve_model(req: ChatRequest, local_ids: list[str], endpoint_names: list[str]) -> ChatRequest:
    """``req`` with ``tier``/``model``/``endpoint`` filled from ``req.model_arg`` (see :func:`resolve_model_id`)."""
    req.tier, req.model, req.endpoint = resolve_model_id(req.model_arg, local_ids, endpoint_names)
    return req


# ---- service errors ----------------------------------------------------------------------------------------

def api_error_for(e: BaseException, thread_given: bool = False) -> ApiError:
    """The HTTP answer for an error the service raised: a client's mistake is 4xx, an upstream failure 502/504,
    only a genuine internal failure 500."""
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    if isinstance(e, ContextOverflow):
        return ApiError(400, msg, "invalid_request_error", "messages", "context_length_exceeded")
    if isinstance(e, ModelDoesNotFit):
        return ApiError(503, msg, "server_error", "model", "model_does_not_fit")
    if isinstance(e, ModelError):
        return ApiError(400, msg, "invalid_request_error", "model", "model_error")
    if isinstance(e, UsageError):
        return ApiError(400, msg, "invalid_request_error", None, "invalid_value")
    if isinstance(e, PolicyError):
        return ApiError(403, msg, "permission_error", None, "policy_refused")
    if isinstance(e, CloudRateLimited):
        after = e.retry_after_s
        headers = {"Retry-After": str(max(1, math.ceil(after)))} if after else {}
        return ApiError(429, msg, "rate_limit_error", None, "upstream_rate_limited", headers)
    if isinstance(e, CloudTimeout):
        return ApiError(504, msg, "upstream_error", None, "upstream_timeout")
    if isinstance(e, CloudError):
        return ApiError(502, msg, "upstream_error", None, "upstream_error")
    if isinstance(e, NotFound) and thread_given:
        return ApiError(404, msg, "invalid_request_error", "baton_thread_id", "thread_not_found")
    if isinstance(e, BatonError):
        return ApiError(500, msg, "server_error", None, "internal_error")
    return ApiError(500, "Baton failed inside while answering; the server's log says more", "server_error",
                    None, "internal_error")


# ---- answers -----------------------------------------------------------------------------------------------

def finish_reason(reason: str) -> str:
    """OpenAI's finish_reason for Baton's (``length`` stays, everything else is ``stop``)."""
    return "length" if reason == "length" else "stop"


def usage_doc(usage: Any) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens}


def completion_doc(result: Any, model_arg: str) -> dict[str, Any]:
    """A ``chat.completion`` object for an AskResult, with its receipt in ``baton``."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model_arg, "system_fingerprint": None,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text}, "logprobs": None,
                     "finish_reason": finish_reason(result.finish_reason)}],
        "usage": usage_doc(result.usage),
        "baton": result.receipt(),
    }


@dataclass
class ChunkMaker:
    """``chat.completion.chunk`` objects of one stream (same id and time on each)."""

    model_arg: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model_arg,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}

    def usage(self, usage: Any) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model_arg,
                "choices": [], "usage": usage_doc(usage)}


def to_json_bytes(doc: Any) -> bytes:
    """``doc`` as UTF-8 JSON that any client can parse: a non-finite number becomes ``null`` and a lone
    surrogate in a string is written as its ``\\uXXXX`` escape."""
    return json.dumps(_finite(doc), ensure_ascii=False).encode("utf-8", "backslashreplace")


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def receipt_headers(receipt: dict[str, Any]) -> dict[str, str]:
    """The receipt as ``X-Baton-*`` headers (printable ASCII, at most 300 characters each; a figure the
    receipt lacks is ``unavailable``)."""
    route, energy = receipt.get("route") or {}, receipt.get("energy") or {}

    def clean(v: Any) -> str:
        return "".join(c if 32 <= ord(c) < 127 else "?" for c in str(v))[:300]

    def num(v: Any, digits: int) -> str:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return f"{v:.{digits}f}" if ok else "unavailable"

    return {
        "X-Baton-Tier": clean(route.get("tier", "")), "X-Baton-Model": clean(route.get("model", "")),
        "X-Baton-Endpoint": clean(route.get("endpoint") or ""),
        "X-Baton-Escalated": "true" if route.get("escalated") else "false",
        "X-Baton-Reason": clean(route.get("reason", "")),
        "X-Baton-Energy-J": num(energy.get("total_j"), 4),
        "X-Baton-Energy-Measured-J": num(energy.get("measured_j"), 4),
        "X-Baton-Energy-Estimated-J": num(energy.get("estimated_j"), 4),
        "X-Baton-Cost-USD": num((receipt.get("cost") or {}).get("usd"), 6),
        "X-Baton-Thread-Id": clean(receipt.get("thread_id", "")),
        "X-Baton-Message-Id": clean(receipt.get("message_id", "")),
        "X-Baton-Total-S": num((receipt.get("timing") or {}).get("total_s"), 3),
    }
