"""A corpus of secret shapes for the privacy gate, written from the providers' documented formats.

Every value is generated here from a seeded RNG (never a real secret). A ``Case`` is one request
(a list of ``(role, content)`` messages) and the strings that must not leave the machine:
``needles`` (the secret, each half of a split secret, the encoded blob of an encoded one). Look-alikes
(``positive=False``) are in ``bench/privacy/lookalikes.py``; ``corpus()`` returns both.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass
from urllib.parse import quote

ALNUM = string.ascii_letters + string.digits
UPPER_NUM = string.ascii_uppercase + string.digits
HEXL = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


@dataclass(frozen=True)
class Case:
    """One request: ``kind`` (benchmark category), ``shape`` (format within it), ``messages``
    (``(role, content)`` pairs) and ``needles`` (what must not be sent; empty for a look-alike)."""

    kind: str
    shape: str
    messages: tuple[tuple[str, str], ...]
    needles: tuple[str, ...]
    positive: bool = True


class Gen:
    """Random, well-formed values (seeded)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def password(self) -> str:
        words = ["Tr0mb0ne", "Maple", "River", "Quartz", "Falcon", "Copper", "Nimbus", "Orchid", "Saffron"]
        return self.pick(words) + self.pick(["!", "#", "-", "_", "$", "@", "."]) + self.s(string.digits, 2) + \
            self.s(ALNUM, self.rng.randint(3, 8))

    def der_key(self, kind: str) -> bytes:
        body = bytes(self.rng.randrange(256) for _ in range(600))
        heads = {"rsa": "308204a40201000282010100", "pkcs8": "308204be020100300d06092a864886f70d0101010500048204a8",
                 "ec": "30770201010420", "dsa": "308201bb02010002818100",
                 "enc": "30820501307306092a864886f70d01050d3066304506092a864886f70d01050c",
                 "openssh": "6f70656e7373682d6b65792d763100"}
        return bytes.fromhex(heads[kind]) + body

    def pem(self, label: str, kind: str, width: int = 64, headers: str = "") -> str:
        b = base64.b64encode(self.der_key(kind)).decode()
        lines = [b[i:i + width] for i in range(0, len(b), width)]
        return f"-----BEGIN {label}-----\n{headers}" + "\n".join(lines) + f"\n-----END {label}-----"


def positives(seed: int = 1306) -> list[Case]:
    g = Gen(seed)
    out: list[Case] = []

    def add(kind: str, shape: str, text: str | list[tuple[str, str]], *needles: str) -> None:
        msgs = tuple([("user", text)] if isinstance(text, str) else text)
        for n in needles:
            assert any(n in c for _, c in msgs), (shape, n)
        out.append(Case(kind, shape, msgs, tuple(needles)))

    for _ in range(2):
        # --- cloud ----------------------------------------------------------------------------------
        akia, secret = "AKIA" + g.s(UPPER_NUM, 16), g.s(B64, 40)
        add("cloud", "aws_credentials_file", f"my ~/.aws/credentials:\n[default]\naws_access_key_id = {akia}\n"
            f"aws_secret_access_key = {secret}\nregion = eu-west-1", akia, secret)
        asia = "ASIA" + g.s(UPPER_NUM, 16)
        add("cloud", "aws_sts_json", json.dumps({"Credentials": {"AccessKeyId": asia, "SecretAccessKey": g.s(B64, 40),
                                                                 "SessionToken": "IQoJb3JpZ2luX2VjE" + g.s(B64, 200),
                                                                 "Expiration": "2024-06-11T12:00:00Z"}}, indent=2),
            asia)
        sk = g.s(B64, 40)
        add("cloud", "aws_boto3_kwargs", f"s3 = boto3.client('s3', aws_access_key_id='AKIA{g.s(UPPER_NUM, 16)}',\n"
            f"                  aws_secret_access_key='{sk}')\nwhy do I get AccessDenied?", sk)
        aiza = "AIza" + g.s(URLSAFE, 35)
        add("cloud", "gcp_api_key", f"fetch(`https://maps.googleapis.com/maps/api/js?key={aiza}&callback=init`)", aiza)
        acct = g.s(B64, 86) + "=="
        add("cloud", "azure_storage_connection", f"AZURE_STORAGE_CONNECTION_STRING=\"DefaultEndpointsProtocol=https;"
            f"AccountName=st{g.s(string.ascii_lowercase, 8)};AccountKey={acct};EndpointSuffix=core.windows.net\"", acct)
        azs = g.s(ALNUM, 3) + "8Q~" + g.s(ALNUM + "_~.-", 34)
        add("cloud", "azure_client_secret", f"az login --service-principal -u {g.s(HEXL, 8)}-{g.s(HEXL, 4)}-4{g.s(HEXL, 3)}"
            f"-a{g.s(HEXL, 3)}-{g.s(HEXL, 12)} -p {azs} --tenant contoso.onmicrosoft.com", azs)
        # --- vcs --------------------------------------------------------------------------------------
        for prefix in ("ghp_", "gho_", "ghs_"):
            tok = prefix + g.s(ALNUM, 36)
            ctx = g.pick([f"git remote set-url origin https://{tok}@github.com/acme/api.git",
                          f"echo {tok} | gh auth login --with-token", f"GITHUB_TOKEN={tok} npm publish",
                          f"headers = {{'Authorization': 'token {tok}'}}"])
            add("vcs", f"github_{prefix}", ctx, tok)
        pat = "github_pat_11" + g.s(UPPER_NUM, 20) + "_" + g.s(ALNUM, 59)
        add("vcs", "github_fine_grained", f"[credential]\n  helper = store\n# token: {pat}", pat)
        gl = "glpat-" + g.s(URLSAFE, 20)
        add("vcs", "gitlab_pat", f"curl --header \"PRIVATE-TOKEN: {gl}\" \"https://gitlab.com/api/v4/projects\"", gl)
        gldt = "gldt-" + g.s(URLSAFE, 20)
        add("vcs", "gitlab_deploy_token", f"git clone https://gitlab+deploy-token-42:{gldt}@gitlab.com/acme/infra.git",
            gldt)
        # --- chat -------------------------------------------------------------------------------------
        xoxb = f"xoxb-{g.s(string.digits, 11)}-{g.s(string.digits, 13)}-{g.s(ALNUM, 24)}"
        add("chat", "slack_bot_token", f"app = App(token=\"{xoxb}\", signing_secret=os.environ['SIGNING'])", xoxb)
        xoxp = f"xoxp-{g.s(string.digits, 11)}-{g.s(string.digits, 11)}-{g.s(string.digits, 13)}-{g.s(HEXL, 32)}"
        add("chat", "slack_user_token", f"SLACK_TOKEN: {xoxp}", xoxp)
        hook = f"https://hooks.slack.com/services/T{g.s(UPPER_NUM, 8)}/B{g.s(UPPER_NUM, 10)}/{g.s(ALNUM, 24)}"
        add("chat", "slack_webhook", f"curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"hi\"}}' {hook}",
            hook.rsplit("/", 1)[1])
        uid = base64.b64encode(str(g.rng.randrange(10**17, 10**19)).encode()).decode().rstrip("=")
        disc = f"{uid}.{g.s(URLSAFE, 6)}.{g.s(URLSAFE, 38)}"
        add("chat", "discord_bot_token", f"bot.run(\"{disc}\")", disc)
        dhook = f"https://discord.com/api/webhooks/{g.s(string.digits, 19)}/{g.s(URLSAFE, 68)}"
        add("chat", "discord_webhook", f"DISCORD_WEBHOOK={dhook}", dhook.rsplit("/", 1)[1])
        tg = f"{g.rng.randrange(10**8, 10**10)}:AA{g.s(URLSAFE, 33)}"
        add("chat", "telegram_bot_token", g.pick([f"updater = Updater('{tg}')",
                                                  f"curl https://api.telegram.org/bot{tg}/getUpdates"]), tg)
        # --- payment ----------------------------------------------------------------------------------
        for prefix in ("sk_live_", "rk_live_"):
            tok = prefix + g.s(ALNUM, g.rng.choice([24, 99]))
            add("payment", prefix.rstrip("_"), g.pick([f"Stripe.api_key = '{tok}'", f"STRIPE_SECRET_KEY={tok}",
                                                       f"curl https://api.stripe.com/v1/charges -u {tok}:"]), tok)
        wh = "whsec_" + g.s(ALNUM, 32)
        add("payment", "stripe_webhook_secret", f"event = stripe.Webhook.construct_event(payload, sig, '{wh}')", wh)
        sq = "EAAA" + g.s(URLSAFE, 60)
        add("payment", "square_access_token", f"client = Client(access_token='{sq}', environment='production')", sq)
        # --- ai providers -----------------------------------------------------------------------------
        proj = "sk-proj-" + g.s(URLSAFE, 74) + "T3BlbkFJ" + g.s(URLSAFE, 74)
        add("ai", "openai_project", f"export OPENAI_API_KEY=\"{proj}\"", proj)
        legacy = "sk-" + g.s(ALNUM, 20) + "T3BlbkFJ" + g.s(ALNUM, 20)
        add("ai", "openai_legacy", f"openai.api_key = \"{legacy}\"", legacy)
        svc = "sk-svcacct-" + g.s(URLSAFE, 74) + "T3BlbkFJ" + g.s(URLSAFE, 74)
        add("ai", "openai_service_account", f"OpenAI(api_key='{svc}')", svc)
        ant = "sk-ant-api03-" + g.s(URLSAFE, 93) + "AA"
        add("ai", "anthropic", f"curl https://api.anthropic.com/v1/messages -H \"x-api-key: {ant}\"", ant)
        hf = "hf_" + g.s(ALNUM, 34)
        add("ai", "huggingface", g.pick([f"login(token=\"{hf}\")", f"HF_TOKEN={hf} python train.py"]), hf)
        gsk = "gsk_" + g.s(ALNUM, 52)
        add("ai", "groq", f"client = Groq(api_key=\"{gsk}\")", gsk)
    return out + _more_positives(g)


def _more_positives(g: Gen) -> list[Case]:
    from bench.privacy.corpus_more import more_positives
    from bench.privacy.corpus_probe import probe_positives

    return more_positives(g) + probe_positives(g)


def corpus() -> list[Case]:
    """Every positive case, then every look-alike, without duplicate requests."""
    from bench.privacy.lookalikes import lookalikes

    seen: set[tuple[tuple[str, str], ...]] = set()
    out = []
    for case in positives() + lookalikes():
        if case.messages not in seen:
            seen.add(case.messages)
            out.append(case)
    return out
