"""Baton's judgment of an answer, in plain words: the badge (where it ran, and whether Baton is unsure of it) and
the one or two sentences of "Why". Pure functions over the receipt (CONTRACT `ask --json`) and the message's
status; no Qt. The numbers behind the words stay in the receipt's details (format.receipt_details_html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WHERE_WORDS = {"this_computer": "this computer", "network": "your network", "cloud": "a cloud"}
NO_ESCALATION_WORDS = (
    ("routing.mode is 'never'", "routing is set to never leave this computer"),
    ("energy budget", "today's energy budget is spent"),
    ("no endpoint is configured", "no stronger tier is set up (Settings → Endpoints)"),
    ("pinned", "you asked for this tier"),
)


@dataclass(frozen=True)
class Badge:
    """What the badge says: ``word`` (e.g. "unsure", "this computer"), ``kind`` (the colour: ``local``,
    ``cloud``, ``unsure`` or ``failed``) and ``tip`` (one sentence for the tooltip)."""

    text: str
    kind: str
    tip: str


def where_of(receipt: dict[str, Any]) -> str:
    """``this_computer``, ``network`` or ``cloud``: the receipt's ``route.where``, or, for a receipt stored before
    that field, ``this_computer`` for a local answer and ``cloud`` otherwise."""
    route = receipt.get("route") or {}
    where = route.get("where")
    if where in WHERE_WORDS:
        return str(where)
    return "this_computer" if route.get("tier") == "local" else "cloud"


def where_words(receipt: dict[str, Any]) -> str:
    """Where the text was processed, for people: "this computer", "your network" or "a cloud"."""
    return WHERE_WORDS[where_of(receipt)]


def _signals(receipt: dict[str, Any]) -> dict[str, Any]:
    return (receipt.get("route") or {}).get("signals") or {}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def unsure_reason(receipt: dict[str, Any], status: str = "done") -> str:
    """Why Baton doubts this answer ("" when it does not): it was cut by the length limit, the model looped, or
    the local answer scored under the threshold and was kept anyway (nowhere better to send it, or pinned)."""
    route = receipt.get("route") or {}
    if status == "loop" or receipt.get("finish_reason") == "loop":
        return "the model started repeating itself, so Baton cut the answer"
    if receipt.get("finish_reason") == "length":
        return "the answer hit the length limit and was cut"
    if route.get("tier") != "local" or route.get("escalated"):
        return ""
    s = _signals(receipt)
    score, threshold = _num(s.get("score")), _num(s.get("threshold"))
    if score is not None and threshold is not None and score < threshold:
        return "it looked weak to Baton's checks"
    return ""


def badge(receipt: dict[str, Any], status: str = "done") -> Badge:
    """The badge of an answer: where it ran and, in its own colour, "unsure" when Baton doubts it."""
    route = receipt.get("route") or {}
    model = str(route.get("model") or "?")
    where = where_words(receipt)
    if status == "failed" or receipt.get("error"):
        return Badge(f"failed · {model}", "failed", "This answer failed; the reason is below.")
    doubt = unsure_reason(receipt, status)
    if doubt:
        return Badge(f"unsure · {where} · {model}", "unsure", f"Check this answer: {doubt}.")
    kind = "local" if where_of(receipt) == "this_computer" and route.get("tier") == "local" else "cloud"
    text = f"{where} · {model}" + (" · escalated" if route.get("escalated") else "")
    return Badge(text, kind, f"Answered on {where} by {model}.")


def _no_escalation_words(reason: Any) -> str:
    text = str(reason or "")
    for needle, words in NO_ESCALATION_WORDS:
        if needle in text:
            return words
    return text or "no stronger tier could take it"


def secret_check_sentence(receipt: dict[str, Any]) -> str:
    """Whether the secret check ran, and why not: nothing to check for a local answer or a loopback endpoint."""
    route = receipt.get("route") or {}
    where = where_of(receipt)
    if route.get("tier") == "local" and not route.get("escalated"):
        return "Nothing left this computer."
    if where == "this_computer":
        return "The secret check did not run: the text stayed on this computer."
    redacted = [n for n in receipt.get("notices") or [] if str(n).startswith("redacted")]
    if redacted:
        return (f"The secret check ran before sending and replaced {len(redacted)} secret"
                f"{'s' if len(redacted) != 1 else ''} with placeholders.")
    return "The secret check ran before sending and found nothing to hide."


def why_sentences(receipt: dict[str, Any], status: str = "done") -> str:
    """One or two plain sentences: why the answer ran where it did, and why it was kept or escalated; then
    whether the secret check ran."""
    route = receipt.get("route") or {}
    s = _signals(receipt)
    where = where_words(receipt)
    reason = str(route.get("reason") or "")
    model = route.get("model") or "the model"
    endpoint = route.get("endpoint") or model
    if route.get("escalated"):
        first = (f"The answer on this computer looked weak, so Baton asked {endpoint} on {where} instead; "
                 "the local answer is kept as an earlier version.")
    elif route.get("tier") == "local":
        if reason.startswith("pinned"):
            first = f"You asked for this computer, so {model} answered here."
        else:
            first = f"Baton tries this computer first, so {model} answered here."
        doubt = unsure_reason(receipt, status)
        if doubt and s.get("may_escalate") is False:
            why_kept = s.get("no_escalation_reason") or ("pinned" if reason.startswith("pinned") else "")
            first += f" Baton is unsure of it ({doubt}) but kept it: {_no_escalation_words(why_kept)}."
        elif doubt:
            first += f" Baton is unsure of it: {doubt}."
        elif _num(s.get("score")) is not None:
            first += " It passed Baton's checks, so it was kept."
    else:
        p1, skip = _num(s.get("p_local_prompt")), _num(s.get("skip_below"))
        if reason.startswith("pinned"):
            first = f"You asked for {endpoint}, so it answered on {where}."
        elif "exceed" in reason or "does not fit" in reason:
            first = f"The question was too big for the model on this computer, so {endpoint} answered on {where}."
        elif p1 is not None and skip is not None and p1 < skip:
            first = (f"Questions like this usually go wrong on this computer, so Baton sent it straight to "
                     f"{endpoint} on {where}.")
        else:
            first = f"{endpoint} answered on {where}."
    return f"{first} {secret_check_sentence(receipt)}"
