"""Offline mode opens no connection to anything but loopback: watched with an audit hook on
``socket.connect`` and ``socket.getaddrinfo`` in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.helpers.llama_server import LlamaServer

PROBE = textwrap.dedent("""
    import json, sys
    events = []

    def hook(event, args):
        if event == "socket.connect":
            addr = args[1]
            events.append(["connect", str(addr[0]) if isinstance(addr, tuple) else str(addr)])
        elif event == "socket.getaddrinfo":
            events.append(["getaddrinfo", str(args[0])])

    sys.addaudithook(hook)
    from baton.config import Endpoint
    from baton.core.cloud.client import CloudClient
    from baton.core.errors import PolicyError
    from baton.core.types import ChatMessage, GenerationRequest

    base_url, offline = sys.argv[1], sys.argv[2] == "1"
    client = CloudClient(Endpoint("probe", base_url, "smollm2"), "sk-probe", offline=offline)
    outcome = {}
    req = GenerationRequest([ChatMessage("user", "Say hi")], max_tokens=4)
    for name, call in (("stream", lambda: "".join(c.text for c in client.stream(req))),
                       ("models", client.list_models)):
        try:
            outcome[name] = ["ok", str(call())]
        except PolicyError as e:
            outcome[name] = ["PolicyError", str(e)]
        except Exception as e:
            outcome[name] = [type(e).__name__, str(e)]
    print(json.dumps({"outcome": outcome, "events": events}))
""")


def _probe(base_url: str, offline: bool) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, base_url, "1" if offline else "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def test_offline_makes_no_connection_to_a_cloud_host() -> None:
    result = _probe("https://api.openai.com/v1", offline=True)
    assert result["outcome"]["stream"][0] == "PolicyError"
    assert result["outcome"]["models"][0] == "PolicyError"
    assert "offline mode" in result["outcome"]["stream"][1]
    assert [e for e in result["events"] if not _is_loopback(e[1])] == []
    assert result["events"] == []  # not even a DNS lookup


def test_the_hook_does_see_connections_when_they_happen(llama_srv: LlamaServer) -> None:
    # offline off, a real server on loopback: the same probe records the connects it makes
    result = _probe(llama_srv.base_url, offline=False)
    assert result["outcome"]["stream"][0] == "ok" and result["outcome"]["stream"][1]
    assert result["outcome"]["models"] == ["ok", str([llama_srv.model])]
    connects = [e for e in result["events"] if e[0] == "connect"]
    assert connects and all(e[1] == "127.0.0.1" for e in connects)


def test_offline_still_allows_a_loopback_server(llama_srv: LlamaServer) -> None:
    result = _probe(llama_srv.base_url, offline=True)
    assert result["outcome"]["stream"][0] == "ok"
    assert all(_is_loopback(e[1]) for e in result["events"])
    assert any(e[0] == "connect" for e in result["events"])
