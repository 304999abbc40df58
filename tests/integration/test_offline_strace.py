"""Offline means loopback only, watched from outside the process: the real `baton` CLI runs under
``strace -f -e trace=connect -e inject=connect:error=ENETUNREACH`` (every connect() is traced and
made to fail, so nothing can leave the machine even if Baton tried) with proxy variables pointing at
a remote-looking proxy, and no connect() to anything but loopback may appear: not to the proxy, not
to a DNS server. A separate run, without injection, checks that loopback endpoints still work offline
with the same proxy variables set (they point at a recording proxy on loopback that must see nothing).

strace comes from the system; where it is missing the test installs it with apt-get, and skips
(saying why) only where that cannot be done.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.config import Endpoint
from baton.core.cloud.client import CloudClient
from baton.core.engine.download import pull
from baton.core.types import ChatMessage, GenerationRequest
from tests.helpers.dialect_server import DialectServer, Reply, json_body
from tests.helpers.proc import baton_env
from tests.helpers.range_server import RangeServer

REMOTE_PROXY = "http://proxy.remote-looking.example:3128"
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")
_CONNECT = re.compile(r"connect\(\d+, \{sa_family=(?P<family>AF_\w+), (?P<rest>.*?)\}, \d+\)")


def _install_strace() -> str | None:
    """The strace binary, installing it with apt-get when missing; None with a reason printed if impossible."""
    found = shutil.which("strace")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None
    subprocess.run("apt-get update -qq && apt-get install -y -qq strace", shell=True, capture_output=True,
                   timeout=600)
    return shutil.which("strace")


@pytest.fixture(scope="module")
def strace() -> str:
    binary = _install_strace()
    if binary is None:
        pytest.fail("set-up failure: strace is not installed and cannot be (no apt-get, or not root); "
                    "install strace (.ci/run does) to run the offline connect() trace")
    probe = subprocess.run([binary, "-f", "-o", os.devnull, "true"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.fail(f"set-up failure: strace cannot trace here (ptrace refused: {probe.stderr.strip()[:200]})")
    return binary


def _connects(trace: Path) -> list[tuple[str, str]]:
    """(family, address) for every connect() in an strace log; address is "ip:port" for inet."""
    found = []
    for line in trace.read_text(errors="replace").splitlines():
        m = _CONNECT.search(line)
        if not m:
            continue
        rest = m["rest"]
        if m["family"] == "AF_INET":
            ip = re.search(r'inet_addr\("([^"]+)"\)', rest)
            port = re.search(r"sin_port=htons\((\d+)\)", rest)
            found.append(("AF_INET", f"{ip[1] if ip else '?'}:{port[1] if port else '?'}"))
        elif m["family"] == "AF_INET6":
            ip = re.search(r'inet_pton\(AF_INET6, "([^"]+)"', rest)
            port = re.search(r"sin6_port=htons\((\d+)\)", rest)
            found.append(("AF_INET6", f"[{ip[1] if ip else '?'}]:{port[1] if port else '?'}"))
        else:
            found.append((m["family"], rest))
    return found


def _off_machine(connects: list[tuple[str, str]]) -> list[tuple[str, str]]:
    bad = []
    for family, addr in connects:
        if family in ("AF_INET", "AF_INET6"):
            host = addr.rsplit(":", 1)[0].strip("[]")
            try:
                if not ipaddress.ip_address(host).is_loopback:
                    bad.append((family, addr))
            except ValueError:
                bad.append((family, addr))
            if addr.endswith(":53") or addr.endswith(":3128"):
                bad.append((family, addr))  # a name lookup, or the proxy, even on loopback
        elif family != "AF_UNIX":
            bad.append((family, addr))
    return bad


def _traced(strace: str, home: Path, tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess,
                                                                                       list[tuple[str, str]]]:
    trace = tmp_path / f"connect-{len(list(tmp_path.glob('connect-*')))}.log"
    extra = {v: REMOTE_PROXY for v in PROXY_VARS}
    extra.update({"BATON_OFFLINE": "1", "no_proxy": "", "NO_PROXY": ""})
    extra.update(env)
    environ = baton_env(home, **extra)
    proc = subprocess.run([strace, "-f", "-qq", "-e", "trace=connect", "-e", "inject=connect:error=ENETUNREACH",
                           "-o", str(trace), sys.executable, "-m", "baton", *args],
                          capture_output=True, text=True, timeout=300, env=environ)
    return proc, _connects(trace)


def test_offline_pull_with_proxy_variables_connects_only_to_loopback(strace: str, baton_home: Path,
                                                                       tmp_path: Path) -> None:
    proc, connects = _traced(strace, baton_home, tmp_path, "models", "pull", "http://127.0.0.1:9/x.gguf")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert _off_machine(connects) == [], connects
    # the one attempt was straight at the URL (and failed by injection): not at the proxy
    assert ("AF_INET", "127.0.0.1:9") in connects


@pytest.mark.parametrize("url", ["http://localhost:9/x.gguf", "http://[::1]:9/x.gguf"])
def test_offline_pull_to_other_loopback_spellings(strace: str, baton_home: Path, tmp_path: Path, url: str) -> None:
    proc, connects = _traced(strace, baton_home, tmp_path, "models", "pull", url)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert _off_machine(connects) == [], connects


@pytest.mark.parametrize("url", ["https://huggingface.co/x/y/resolve/main/m.gguf", "http://10.1.2.3:8080/m.gguf",
                                 "http://127.0.0.1.nip.io/m.gguf"])
def test_offline_pull_of_a_remote_url_is_refused_before_any_connect(strace: str, baton_home: Path, tmp_path: Path,
                                                                    url: str) -> None:
    proc, connects = _traced(strace, baton_home, tmp_path, "models", "pull", url)
    assert proc.returncode == 1 and "offline" in proc.stderr
    assert [c for c in connects if c[0] != "AF_UNIX"] == []  # not even a loopback one: refused up front


def _add_endpoint(home: Path, name: str, base_url: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "baton", "endpoints", "add", name, "--base-url", base_url,
                           "--model", "gpt-4o-mini", "--key-env", "REMOTE_KEY_FOR_TEST"],
                          capture_output=True, text=True, timeout=120, env=baton_env(home))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("base_url", ["https://api.remote-looking.example/v1", "http://192.168.77.5:8000/v1"])
def test_offline_cloud_ask_and_endpoint_test_connect_only_to_loopback(strace: str, baton_home: Path,
                                                                      tmp_path: Path, base_url: str) -> None:
    _add_endpoint(baton_home, "far", base_url)
    for args in (("ask", "--tier", "cloud", "Say hi"), ("endpoints", "test", "far")):
        proc, connects = _traced(strace, baton_home, tmp_path, *args, REMOTE_KEY_FOR_TEST="sk-remote-0123456789")
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "offline" in proc.stderr
        assert "sk-remote-0123456789" not in proc.stderr + proc.stdout
        assert _off_machine(connects) == [], (args, connects)


# ---- a separate run: loopback still works offline, and proxies are not used for it ----------------------

@pytest.fixture()
def recording_proxy() -> Iterator[DialectServer]:
    """A loopback 'proxy' that records anything sent to it (it must see nothing)."""
    with DialectServer() as srv:
        yield srv


def _proxy_env(monkeypatch: pytest.MonkeyPatch, proxy_url: str) -> None:
    for var in PROXY_VARS:
        monkeypatch.setenv(var, proxy_url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)


def test_offline_loopback_pull_works_and_skips_the_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         recording_proxy: DialectServer) -> None:
    _proxy_env(monkeypatch, f"http://127.0.0.1:{recording_proxy.port}")
    data = os.urandom(200_000)
    with RangeServer({"x.gguf": data}) as server:
        for offline in (True, False):
            dest = tmp_path / f"offline-{offline}"
            res = pull(server.url("x.gguf"), dest, offline=offline)
            assert res.path.read_bytes() == data
    assert recording_proxy.requests == []


@pytest.mark.parametrize("offline", [True, False])
def test_offline_loopback_endpoint_works_and_skips_the_proxy(monkeypatch: pytest.MonkeyPatch, offline: bool,
                                                             recording_proxy: DialectServer) -> None:
    _proxy_env(monkeypatch, f"http://127.0.0.1:{recording_proxy.port}")
    with DialectServer() as srv:
        client = CloudClient(Endpoint("lan", srv.base_url, "m"), "sk-loop-1234", offline=offline)
        text = "".join(c.text for c in client.stream(GenerationRequest([ChatMessage("user", "hi")])))
        assert text == "ok" and len(srv.requests) == 1
        srv.enqueue(Reply(body=json_body({"object": "list", "data": [{"id": "m", "object": "model"}]})))
        assert client.list_models() == ["m"]
    assert recording_proxy.requests == []


def test_offline_cli_pull_from_a_loopback_server_still_works(baton_home: Path) -> None:
    from tests.helpers.gguf_writer import llama_like

    data = llama_like(n_layers=2, n_embd=64, ff=128, name="Offline Pull").to_bytes()
    with RangeServer({"tiny.gguf": data}) as server:
        env = {v: REMOTE_PROXY for v in PROXY_VARS}
        proc = subprocess.run([sys.executable, "-m", "baton", "models", "pull", server.url("tiny.gguf"), "--json"],
                              capture_output=True, text=True, timeout=300,
                              env=baton_env(baton_home, BATON_OFFLINE="1", **env))
    assert proc.returncode == 0, proc.stderr
    assert '"already_present": false' in proc.stdout
