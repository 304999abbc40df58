"""End to end through the CLI: secrets typed into `baton ask --tier cloud` never reach a recording
OpenAI-style server that Baton must treat as remote (a name in /etc/hosts that points at loopback,
so nothing can leave the machine even while the gate fails), nor the database, logs or stderr."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from bench.privacy.corpus import Gen
from tests.helpers.recording_server import RecordingServer
from tests.integration.serve_support import post_json, start_serve

REPO = Path(__file__).resolve().parents[2]
HOST = "api.remote-cloud.test"
HOSTS = Path("/etc/hosts")
ALNUM = string.ascii_letters + string.digits


def _ensure_hosts_entry() -> None:
    """Map HOST to 127.0.0.1 in /etc/hosts (added once, only when missing)."""
    try:
        lines = HOSTS.read_text().splitlines()
        if any(HOST in line.split("#")[0].split()[1:] for line in lines if line.strip()):
            return
        with HOSTS.open("a") as fh:
            fh.write(("" if not lines or HOSTS.read_text().endswith("\n") else "\n") + f"127.0.0.1 {HOST}\n")
    except OSError as e:
        pytest.fail(f"set-up failure: cannot add '{HOST}' to {HOSTS} ({e}); the test needs a remote-looking name "
                    "that resolves to loopback (run as root, as CI does)")


def _baton(home: Path, *args: str) -> subprocess.CompletedProcess:
    exe = REPO / ".venv" / "bin" / "baton"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "baton"]
    env = {**os.environ, "BATON_HOME": str(home), "REMOTE_TEST_KEY": "test-key-not-a-secret",
           "no_proxy": f"{HOST},127.0.0.1,localhost", "NO_PROXY": f"{HOST},127.0.0.1,localhost"}
    env.pop("BATON_OFFLINE", None)
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture()
def remote(baton_home: Path) -> Iterator[RecordingServer]:
    _ensure_hosts_entry()
    with RecordingServer() as srv:
        add = _baton(baton_home, "endpoints", "add", "cloud", "--base-url", f"http://{HOST}:{srv.port}/v1",
                     "--model", "m", "--key-env", "REMOTE_TEST_KEY")
        assert add.returncode == 0, add.stderr
        yield srv


def _set_mode(home: Path, mode: str) -> None:
    proc = _baton(home, "config", "set", "routing.privacy", mode)
    assert proc.returncode == 0, proc.stderr


def _forms(secret: str) -> list[str]:
    """The secret, its halves and its encoded forms: none may be seen outside."""
    forms = [secret, json.dumps(secret)[1:-1], quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]
    if len(secret) >= 16:
        forms += [secret[:len(secret) // 2], secret[len(secret) // 2:]]
    return [f for f in forms if len(f) >= 6]


def _assert_not_outside(home: Path, srv: RecordingServer, proc: subprocess.CompletedProcess, secret: str,
                        check_store: bool = True) -> None:
    bodies = srv.chat_bodies()
    sent = [b.decode("utf-8", "replace") for b in bodies]
    for body in bodies:  # the decoded request too: JSON escapes are undone
        sent.append("\n".join(str(m.get("content")) for m in json.loads(body).get("messages", [])))
    for form in _forms(secret):
        assert not any(form in s for s in sent), f"{form[:6]}... reached the server"
        assert form not in proc.stderr and form not in proc.stdout, f"{form[:6]}... printed"
    if check_store:
        for path in home.rglob("*"):
            if path.is_file() and path.suffix != ".toml":
                assert secret.encode() not in path.read_bytes(), f"the secret is stored in {path.name}"


def _pem() -> str:
    return Gen(77).pem("PRIVATE KEY", "pkcs8")


RNG = random.Random(1313)
PW = f"S3cr3t-{''.join(RNG.choice(ALNUM) for _ in range(8))}"
TOKEN = "".join(RNG.choice(ALNUM) for _ in range(40))
AWS = "".join(RNG.choice(ALNUM) for _ in range(40))
CASES = {
    "pem_in_json": (json.dumps({"type": "service_account", "private_key": _pem()}), _pem().splitlines()[3]),
    "curl_u": (f"why does curl -u admin:{PW} https://jenkins.internal/api/json give 403?", PW),
    "netrc": (f"is this .netrc right? machine h login u password {PW}", PW),
    "prose": (f"my password is {PW} and login fails, why?", PW),
    "url_token": (f"GET https://api.example.net/v1/export?format=csv&token={TOKEN} returns 500", TOKEN),
    "base64_credentials": ("decode: " + base64.b64encode(f"[default]\naws_access_key_id = AKIA"
                                                         f"{'Q3XK7VT2PLMZR4WN'}\naws_secret_access_key = {AWS}\n"
                                                         .encode()).decode(), AWS),
}


@pytest.mark.parametrize("mode", ["refuse", "redact"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_secret_in_the_prompt_never_reaches_the_remote_server(baton_home: Path, remote: RecordingServer,
                                                                mode: str, case: str) -> None:
    prompt, secret = CASES[case]
    _set_mode(baton_home, mode)
    proc = _baton(baton_home, "ask", "--tier", "cloud", "--json", prompt)
    if mode == "refuse":
        assert proc.returncode == 1 and remote.chat_bodies() == [], proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "routing.privacy" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["text"] == "Noted." and len(remote.chat_bodies()) == 1
        assert b"[REDACTED:" in remote.chat_bodies()[0]
    _assert_not_outside(baton_home, remote, proc, secret, check_store=mode == "refuse")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_redacted_secret_is_not_stored(baton_home: Path, remote: RecordingServer, case: str) -> None:
    """The thread keeps the question as it was sent (redacted), so the database never holds the secret."""
    prompt, secret = CASES[case]
    _set_mode(baton_home, "redact")
    proc = _baton(baton_home, "ask", "--tier", "cloud", "--json", prompt)
    assert proc.returncode == 0, proc.stderr
    _assert_not_outside(baton_home, remote, proc, secret)


@pytest.mark.parametrize("mode", ["refuse", "redact"])
def test_a_token_split_across_two_turns_of_a_thread(baton_home: Path, remote: RecordingServer, mode: str) -> None:
    token = "ghp_" + "".join(RNG.choice(ALNUM) for _ in range(36))
    first, rest = token[:18], token[18:]
    seed = _baton(baton_home, "ask", "--tier", "local", "--max-tokens", "8", "--json",
                  f"remember the first part of my token: {first}")
    assert seed.returncode == 0, seed.stderr
    thread = json.loads(seed.stdout)["thread_id"]
    assert remote.chat_bodies() == []
    _set_mode(baton_home, mode)
    proc = _baton(baton_home, "ask", "--tier", "cloud", "--thread", thread, "--json",
                  f"and the rest is {rest}; now clone the repo")
    if mode == "refuse":
        assert proc.returncode == 1 and remote.chat_bodies() == [], proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        assert remote.chat_bodies() and b"[REDACTED:" in remote.chat_bodies()[0]
    _assert_not_outside(baton_home, remote, proc, token)
    for half in (first, rest):
        assert not any(half.encode() in b for b in remote.chat_bodies())


def test_a_documented_placeholder_is_sent(baton_home: Path, remote: RecordingServer) -> None:
    prompt = "Set OPENAI_API_KEY=sk-... in your shell, then what does `openai models list` print?"
    proc = _baton(baton_home, "ask", "--tier", "cloud", "--json", prompt)
    assert proc.returncode == 0, proc.stderr
    (body,) = remote.chat_bodies()
    assert "OPENAI_API_KEY=sk-..." in json.loads(body)["messages"][-1]["content"]


# ---- the outside probe's inputs ------------------------------------------------------------------------------

FIRST, REST = "ghp_R4nd0mT0k3nV4lu", "3xYz9876543210AbCdEf"  # the probe's token, split over two turns
WORDED_AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEYq"  # a random key with a word inside: not a placeholder
_JWT_HP = (base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=") + "."
           + base64.urlsafe_b64encode(b'{"sub":"8812","role":"admin","exp":1893456000}').decode().rstrip("="))
JWT = _JWT_HP + "." + base64.urlsafe_b64encode(hmac.new(b"k9-not-shared", _JWT_HP.encode(), hashlib.sha256)
                                               .digest()).decode().rstrip("=")
PROBE = {
    "aws_secret_example_inside": (f"aws_secret_access_key = {WORDED_AWS}", WORDED_AWS),
    "aws_pair_one_line": (f"aws_access_key_id=AKIAQ3XK7VT2PLMZR4WN aws_secret_access_key={WORDED_AWS}", WORDED_AWS),
    "aws_url_encoded": ("aws_secret_access_key%3D" + quote(WORDED_AWS, safe=""), WORDED_AWS),
    "jwt_bearer": (f"Authorization: Bearer {JWT}", JWT.rsplit(".", 1)[1]),
    "jwt_alone": (f"what is in this token? {JWT}", JWT.rsplit(".", 1)[1]),
    "google_key": ("my maps key AIzaSyB3x9Kq2Lm7Pw4Rt8Yu1Io5Ea6Sd0Fg3Hj stopped working", "B3x9Kq2Lm7Pw4Rt8Yu1Io5Ea6Sd0Fg3Hj"),
    "sendgrid_key": ("SENDGRID_API_KEY=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",
                     "s7Tu9Vw1Xy3Za5Bc7De9Fg1Hi3Jk5Lm7No9Pq1Rs3T4"),
    "password_french": ("mot de passe: Tr0ub4dor-88x, pourquoi ça échoue ?", "Tr0ub4dor-88x"),
    "password_russian": ("пароль: Tr0ub4dor-88x", "Tr0ub4dor-88x"),
    "curl_password_ends_bang": ("curl -u deploy:Hunter2-Xq9z! https://ci.internal/api", "Hunter2-Xq9z!"),
}


@pytest.mark.parametrize("mode", ["refuse", "redact"])
@pytest.mark.parametrize("case", sorted(PROBE))
def test_the_probes_inputs_never_reach_the_remote_server(baton_home: Path, remote: RecordingServer, mode: str,
                                                         case: str) -> None:
    prompt, secret = PROBE[case]
    _set_mode(baton_home, mode)
    proc = _baton(baton_home, "ask", "--tier", "cloud", "--json", prompt)
    if mode == "refuse":
        assert proc.returncode == 1 and remote.chat_bodies() == [], proc.stderr
    else:
        assert proc.returncode == 0 and len(remote.chat_bodies()) == 1, proc.stderr
    _assert_not_outside(baton_home, remote, proc, secret)
    if case == "curl_password_ends_bang" and mode == "redact":  # the whole password, its last "!" included
        sent = json.loads(remote.chat_bodies()[0])["messages"][-1]["content"]
        assert "deploy:[REDACTED:password] https://ci.internal/api" in sent


def test_the_probes_split_token_through_cli_turns_refused(baton_home: Path, remote: RecordingServer) -> None:
    """Refuse mode: the first half alone is already refused; a thread that holds it (answered locally)
    refuses the turn that brings the rest."""
    _set_mode(baton_home, "refuse")
    first = _baton(baton_home, "ask", "--tier", "cloud", "--json", f"my token starts {FIRST}")
    assert first.returncode == 1 and remote.chat_bodies() == [], first.stderr
    seed = _baton(baton_home, "ask", "--tier", "local", "--max-tokens", "8", "--json", f"my token starts {FIRST}")
    assert seed.returncode == 0, seed.stderr
    thread = json.loads(seed.stdout)["thread_id"]
    proc = _baton(baton_home, "ask", "--thread", thread, "--tier", "cloud", "--json", f"and ends {REST}, join them")
    assert proc.returncode == 1 and remote.chat_bodies() == [], proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "github token" in proc.stderr
    assert FIRST not in proc.stderr and REST not in proc.stderr


def test_the_probes_split_token_through_cli_turns_redacted(baton_home: Path, remote: RecordingServer) -> None:
    """Redact mode, exactly the probe's two commands: neither half reaches the server, the words do."""
    _set_mode(baton_home, "redact")
    first = _baton(baton_home, "ask", "--tier", "cloud", "--json", f"my token starts {FIRST}")
    assert first.returncode == 0, first.stderr
    thread = json.loads(first.stdout)["thread_id"]
    proc = _baton(baton_home, "ask", "--thread", thread, "--tier", "cloud", "--json", f"and ends {REST}, join them")
    assert proc.returncode == 0, proc.stderr
    bodies = remote.chat_bodies()
    assert len(bodies) == 2
    for half in (FIRST, FIRST[4:], REST):
        assert not any(half.encode() in b for b in bodies), half
        assert half not in proc.stdout + proc.stderr + first.stdout + first.stderr
    last = json.loads(bodies[1])["messages"]
    assert last[-1]["content"] == "and ends [REDACTED:github_token], join them"
    assert last[-3]["content"].startswith("my token starts [REDACTED:")


def _stored_halves(home: Path) -> list[str]:
    return [f"{p.name}: {h[:4]}..." for p in home.rglob("*") if p.is_file() and p.suffix != ".toml"
            for h in (FIRST, REST) if h.encode() in p.read_bytes()]


@pytest.mark.parametrize("mode", ["refuse", "redact"])
def test_the_rest_of_a_split_token_is_not_stored(baton_home: Path, remote: RecordingServer, mode: str) -> None:
    """The thread keeps each question as it was sent (or would have been): the rest of a token whose
    first half is an earlier turn is redacted in the store too."""
    seed = _baton(baton_home, "ask", "--tier", "local", "--max-tokens", "8", "--json", f"my token starts {FIRST}")
    assert seed.returncode == 0, seed.stderr
    _set_mode(baton_home, mode)
    proc = _baton(baton_home, "ask", "--thread", json.loads(seed.stdout)["thread_id"], "--tier", "cloud", "--json",
                  f"and ends {REST}, join them")
    assert proc.returncode == (1 if mode == "refuse" else 0), proc.stderr
    assert not any(REST.encode() in b for b in remote.chat_bodies())
    assert [h for h in _stored_halves(baton_home) if h.endswith(f"{REST[:4]}...")] == []


@pytest.mark.parametrize("mode", ["refuse", "redact"])
def test_the_probes_split_token_through_baton_serve(baton_home: Path, remote: RecordingServer, mode: str) -> None:
    """The same halves as three messages of one `baton serve` request (user, assistant, user)."""
    _set_mode(baton_home, mode)
    served = start_serve(baton_home, REMOTE_TEST_KEY="test-key-not-a-secret", no_proxy=f"{HOST},127.0.0.1,localhost",
                         NO_PROXY=f"{HOST},127.0.0.1,localhost")
    try:
        messages = [{"role": "user", "content": f"my token starts {FIRST}"},
                    {"role": "assistant", "content": "OK, noted."},
                    {"role": "user", "content": f"and ends {REST}, join them"}]
        reply = post_json(served.port, served.token, {"model": "baton-cloud", "messages": messages})
    finally:
        served.stop()
    bodies = remote.chat_bodies()
    if mode == "refuse":
        assert 400 <= reply.status < 500 and bodies == [], reply.body[:300]
        assert reply.json()["error"]["message"]
    else:
        assert reply.status == 200 and len(bodies) == 1, reply.body[:300]
        sent = [m["content"] for m in json.loads(bodies[0])["messages"]]
        assert sent == ["my token starts [REDACTED:github_token]", "OK, noted.",
                        "and ends [REDACTED:github_token], join them"]
    for half in (FIRST, FIRST[4:], REST):
        assert not any(half.encode() in b for b in bodies) and half.encode() not in reply.body, half
    assert not any(FIRST in line or REST in line for line in served.lines)
