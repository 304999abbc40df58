"""Secret shapes, continued: private keys in every armour, connection strings, command-line and
config-file credentials, prose, JWTs, secrets in URLs, encoded and split forms."""

from __future__ import annotations

import base64
import json
import string
from urllib.parse import quote

from bench.privacy.corpus import ALNUM, B64, HEXL, URLSAFE, Case, Gen

PEM_KINDS = [("RSA PRIVATE KEY", "rsa"), ("PRIVATE KEY", "pkcs8"), ("EC PRIVATE KEY", "ec"),
             ("OPENSSH PRIVATE KEY", "openssh"), ("ENCRYPTED PRIVATE KEY", "enc"), ("DSA PRIVATE KEY", "dsa")]


def _body(pem: str) -> str:
    return pem.splitlines()[-3]


def more_positives(g: Gen) -> list[Case]:
    out: list[Case] = []

    def add(kind: str, shape: str, text: str | list[tuple[str, str]], *needles: str) -> None:
        msgs = tuple([("user", text)] if isinstance(text, str) else text)
        for n in needles:
            assert any(n in c for _, c in msgs), (shape, n)
        out.append(Case(kind, shape, msgs, tuple(needles)))

    # --- private keys in every armour ------------------------------------------------------------------
    for label, k in PEM_KINDS:
        pem = g.pem(label, k, 70 if k == "openssh" else 64)
        add("private_key", f"pem_{k}", f"this key fails with `invalid format`, why?\n\n{pem}\n", _body(pem))
    enc = g.pem("RSA PRIVATE KEY", "rsa", headers=f"Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,{g.s(HEXL, 32).upper()}\n\n")
    add("private_key", "pem_encrypted_headers", enc, _body(enc))
    pgp = g.pem("PGP PRIVATE KEY BLOCK", "rsa", headers="Version: GnuPG v2\nComment: Alice <alice@example.org>\n"
                "Comment: https://keys.example.org/alice\n\n")
    add("private_key", "pgp_comment_headers", pgp, _body(pgp))
    crlf = g.pem("PRIVATE KEY", "pkcs8").replace("\n", "\r\n")
    add("private_key", "pem_crlf", crlf, crlf.splitlines()[3])
    sa_pem = g.pem("PRIVATE KEY", "pkcs8")
    sa = json.dumps({"type": "service_account", "project_id": "acme-prod", "private_key_id": g.s(HEXL, 40),
                     "private_key": sa_pem + "\n", "client_email": "ci@acme-prod.iam.gserviceaccount.com"}, indent=2)
    add("private_key", "gcp_service_account_json", sa, _body(sa_pem))
    env_pem = g.pem("RSA PRIVATE KEY", "rsa")
    add("private_key", "dotenv_escaped", "JWT_PRIVATE_KEY=\"" + env_pem.replace("\n", "\\n") + "\"", _body(env_pem))
    py_pem = g.pem("EC PRIVATE KEY", "ec")
    py = "KEY = (\n" + "\n".join(f"    \"{line}\\n\"" for line in py_pem.splitlines()) + "\n)"
    add("private_key", "python_concatenated", py, py_pem.splitlines()[1])
    yml_pem = g.pem("OPENSSH PRIVATE KEY", "openssh", 70)
    add("private_key", "yaml_block", "deploy:\n  ssh_key: |\n" + "\n".join("    " + ln for ln in yml_pem.splitlines()),
        _body(yml_pem))
    bare = base64.b64encode(g.der_key("pkcs8")).decode()
    add("private_key", "bare_der_base64", f"signing_material:\n{bare}", bare[:64])
    one_line = g.pem("RSA PRIVATE KEY", "rsa").replace("\n", " ")
    add("private_key", "pem_one_line_spaces", f"key = {one_line}", one_line.split(" ")[5])
    putty = ("PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nComment: rsa-key-20240611\nPublic-Lines: 6\n"
             + "\n".join(g.s(B64, 64) for _ in range(6)) + "\nPrivate-Lines: 14\n"
             + "\n".join(g.s(B64, 64) for _ in range(14)) + f"\nPrivate-MAC: {g.s(HEXL, 64)}\n")
    add("private_key", "putty_ppk", putty, putty.splitlines()[12])

    for _ in range(2):
        # --- connection strings -------------------------------------------------------------------------
        pw = g.password()
        add("connection_string", "postgres_url", f"DATABASE_URL=postgres://app:{quote(pw, safe='')}@db.internal:5432/app",
            quote(pw, safe=""))
        pw = g.password()
        add("connection_string", "sqlalchemy_driver", f"create_engine(\"postgresql+psycopg2://etl:{pw}@10.0.3.7/warehouse\")",
            pw)
        pw = g.s(ALNUM, 16)
        add("connection_string", "mongodb_srv", f"const uri = 'mongodb+srv://admin:{pw}@cluster0.x1y2z.mongodb.net/?retryWrites=true';",
            pw)
        pw = g.s(ALNUM, 24)
        add("connection_string", "redis_password_only", f"CELERY_BROKER_URL = 'redis://:{pw}@redis:6379/0'", pw)
        pw = g.password()
        add("connection_string", "ado_net", f"\"DefaultConnection\": \"Server=tcp:sql01.database.windows.net,1433;"
            f"Initial Catalog=crm;User ID=crmadmin;Password={pw};Encrypt=True;\"", pw)
        pw = g.password()
        add("connection_string", "jdbc_query", f"spring.datasource.url=jdbc:mysql://db:3306/shop?user=shop&password={pw}"
            "&useSSL=false", pw)
        pw = g.s(ALNUM, 12)
        add("connection_string", "amqp", f"amqp://guest_{g.s(string.ascii_lowercase, 4)}:{pw}@rabbit.internal:5672/vhost", pw)
        # --- command-line credentials --------------------------------------------------------------------
        pw = g.password()
        add("cli_credential", "curl_u", g.pick([f"curl -u admin:{pw} https://jenkins.internal/api/json",
                                                f"curl --user 'deploy:{pw}' -X POST https://nexus.acme.io/upload"]), pw)
        pw = g.password()
        add("cli_credential", "mysql_p", f"mysqldump -h db -u root -p{pw} shop > shop.sql", pw)
        pw = g.password()
        add("cli_credential", "sshpass", f"sshpass -p '{pw}' ssh ops@10.0.0.12 uptime", pw)
        pw = g.password()
        add("cli_credential", "pgpassword_env", f"PGPASSWORD={pw} psql -h db.internal -U app -c 'select 1'", pw)
        pw = g.password()
        add("cli_credential", "docker_login", f"docker login registry.acme.io -u ci -p {pw}", pw)
        pw = g.password()
        add("cli_credential", "wget_password", f"wget --user=ftpuser --password={pw} ftp://files.acme.io/dump.tgz", pw)
        pw = g.password()
        add("cli_credential", "sqlcmd_P", f"sqlcmd -S sql01 -U sa -P {pw} -Q \"SELECT @@VERSION\"", pw)
        pw = g.password()
        add("cli_credential", "redis_cli_a", f"redis-cli -h cache -a {pw} ping", pw)
        # --- config-file credentials ----------------------------------------------------------------------
        pw = g.password()
        add("config_credential", "netrc", g.pick([f"machine api.heroku.com login me@acme.io password {pw}",
                                                  f"machine ftp.acme.io\n  login backup\n  password {pw}\n"]), pw)
        pw = g.password()
        add("config_credential", "pgpass", f"~/.pgpass:\ndb.internal:5432:app:app_user:{pw}", pw)
        npm = "npm_" + g.s(ALNUM, 36)
        add("config_credential", "npmrc", f"//registry.npmjs.org/:_authToken={npm}\nalways-auth=true", npm)
        pw = g.password()
        add("config_credential", "spring_properties", f"spring.datasource.username=shop\nspring.datasource.password={pw}", pw)
        pw = g.password()
        add("config_credential", "django_settings", "DATABASES = {\n    'default': {\n        'ENGINE': "
            f"'django.db.backends.postgresql',\n        'USER': 'web',\n        'PASSWORD': '{pw}',\n    }}\n}}", pw)
        pw = g.password()
        add("config_credential", "wp_config", f"define( 'DB_PASSWORD', '{pw}' );", pw)
        auth = base64.b64encode(f"ci-bot:{g.s(ALNUM, 20)}".encode()).decode()
        add("config_credential", "docker_config_auth", json.dumps({"auths": {"registry.acme.io": {"auth": auth}}}), auth)
        pw = g.password()
        add("config_credential", "compose_env", f"services:\n  db:\n    environment:\n      MYSQL_ROOT_PASSWORD: {pw}\n", pw)
        # --- prose ------------------------------------------------------------------------------------------
        pw = g.password()
        add("prose", "my_password_is", g.pick([f"my password is {pw} but login still fails",
                                                f"The root password for prod is `{pw}`, can you check the sudoers?"]), pw)
        pw = g.password()
        add("prose", "wifi_password", f"guest wifi: ACME-Guest, the password is {pw}.", pw)
        pw = g.password()
        add("prose", "password_changed_to", f"I changed the admin password to {pw} yesterday and now cron fails", pw)
        tok = g.s(ALNUM, 32)
        add("prose", "api_key_is", f"Here's my API key: {tok} - why do I get 401?", tok)
        pw = g.password()
        add("prose", "use_passphrase", f"unlock it with passphrase {pw} then run the backup", pw)
        # --- JWTs ---------------------------------------------------------------------------------------------
        hdr = base64.urlsafe_b64encode(json.dumps({"alg": g.pick(["HS256", "RS256", "ES256"]), "typ": "JWT"}).encode()
                                       ).decode().rstrip("=")
        pl = base64.urlsafe_b64encode(json.dumps({"sub": g.s(string.digits, 8), "role": "admin",
                                                  "exp": 1893456000}).encode()).decode().rstrip("=")
        jwt = f"{hdr}.{pl}.{g.s(URLSAFE, g.rng.choice([43, 86, 342]))}"
        add("jwt", "jwt_bearer", f"Authorization: Bearer {jwt}", jwt)
        add("jwt", "jwt_cookie", f"Cookie: session={jwt}; theme=dark", jwt)
        add("jwt", "jwt_query", f"https://app.acme.io/callback#id_token={jwt}&state=xyz", jwt)
        add("jwt", "jwt_json", json.dumps({"access_token": jwt, "token_type": "Bearer", "expires_in": 3600}), jwt)
        # --- secrets in URLs ---------------------------------------------------------------------------------
        pw = g.password()
        add("url_secret", "userinfo", f"pip install -i https://deploy:{quote(pw, safe='')}@pypi.acme.io/simple acme-core",
            quote(pw, safe=""))
        tok = g.s(ALNUM, 40)
        add("url_secret", "query_token", f"GET https://api.acme.io/v1/export?format=csv&token={tok}", tok)
        tok = g.s(HEXL, 32)
        add("url_secret", "query_api_key", f"https://api.openweathermap.org/data/2.5/weather?q=Paris&appid={tok}"
            f"&api_key={tok}", tok)
        tok = g.s(URLSAFE, 43)
        add("url_secret", "query_access_token", f"https://graph.facebook.com/me?access_token={tok}", tok)
        sig = quote(base64.b64encode(bytes(g.rng.randrange(256) for _ in range(32))).decode(), safe="")
        add("url_secret", "azure_sas", f"https://acme.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o"
            f"&sp=r&se=2025-01-01T00:00:00Z&sig={sig}", sig)
        s3sig = g.s(HEXL, 64)
        add("url_secret", "s3_presigned", f"https://acme.s3.amazonaws.com/r.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential=AKIA{g.s(string.ascii_uppercase, 16)}%2F20240611%2Fus-east-1%2Fs3%2Faws4_request"
            f"&X-Amz-Signature={s3sig}", s3sig)
        tg = f"{g.rng.randrange(10**8, 10**10)}:AA{g.s(URLSAFE, 33)}"
        add("url_secret", "telegram_path", f"requests.get(f'https://api.telegram.org/bot{tg}/sendMessage?chat_id=1')", tg)
        key = g.s(URLSAFE, 39)
        add("url_secret", "ifttt_key_path", f"https://maker.ifttt.com/trigger/door_open/with/key/{key}", key)
    return out + _encoded_and_split(g, add)


def _encoded_and_split(g: Gen, add) -> list[Case]:  # type: ignore[no-untyped-def]
    for _ in range(2):
        creds = (f"[default]\naws_access_key_id = AKIA{g.s(string.ascii_uppercase + string.digits, 16)}\n"
                 f"aws_secret_access_key = {g.s(B64, 40)}\n")
        b = base64.b64encode(creds.encode()).decode()
        add("encoded", "base64_aws_credentials", f"here is the base64 of my credentials file:\n{b}", b)
        env = f"DB_USER=app\nDB_PASSWORD={g.password()}\nSTRIPE_KEY=sk_live_{g.s(ALNUM, 24)}\n"
        h = env.encode().hex()
        add("encoded", "hex_env_file", f"the config blob is {h}", h)
        u = quote(f"aws_access_key_id=AKIA{g.s(string.ascii_uppercase + string.digits, 16)}\n"
                  f"aws_secret_access_key={g.s(B64, 40)}", safe="")
        add("encoded", "url_encoded_credentials", f"POST /upload?file={u}", u)
        pem = g.pem("RSA PRIVATE KEY", "rsa")
        kb = base64.b64encode(pem.encode()).decode()
        add("encoded", "base64_pem_kubeconfig", f"users:\n- name: admin\n  user:\n    client-key-data: {kb}\n", kb)
        netrc = f"machine github.com login bot password ghp_{g.s(ALNUM, 36)}\n"
        nb = base64.urlsafe_b64encode(netrc.encode()).decode()
        add("encoded", "base64url_netrc", f"echo {nb} | base64 -d > ~/.netrc", nb)
        sa = json.dumps({"type": "service_account", "private_key": g.pem("PRIVATE KEY", "pkcs8")})
        sb = base64.b64encode(sa.encode()).decode()
        add("encoded", "base64_service_account", f"GOOGLE_CREDENTIALS_B64={sb}", sb)
        # --- split across messages ------------------------------------------------------------------
        tok = "ghp_" + g.s(ALNUM, 36)
        add("split", "github_across_turns", [("user", f"keep this for later: {tok[:20]}"), ("assistant", "Noted."),
                                              ("user", f"{tok[20:]} is the rest, now push the branch")],
            tok[:20], tok[20:])
        key = "sk-proj-" + g.s(URLSAFE, 60)
        add("split", "openai_two_messages", [("user", key[:30]), ("user", key[30:])], key[:30], key[30:])
        xoxb = f"xoxb-{g.s(string.digits, 11)}-{g.s(string.digits, 13)}-{g.s(ALNUM, 24)}"
        add("split", "slack_with_words", [("user", f"the bot token starts with {xoxb[:25]}"),
                                          ("assistant", "Please don't paste tokens here."),
                                          ("user", f"and ends with {xoxb[25:]}")], xoxb[:25], xoxb[25:])
        akia = "AKIA" + g.s(string.ascii_uppercase + string.digits, 16)
        add("split", "aws_key_id_halves", [("user", f"id part one: {akia[:10]}"), ("user", f"{akia[10:]}")],
            akia[:10], akia[10:])
        pem = g.pem("PRIVATE KEY", "pkcs8")
        lines = pem.splitlines()
        first, second = "\n".join(lines[:8]), "\n".join(lines[8:])
        add("split", "pem_across_turns", [("user", f"my key, part 1:\n{first}"), ("assistant", "Go on."),
                                          ("user", f"part 2:\n{second}")], lines[3], lines[-3])
        ant = "sk-ant-api03-" + g.s(URLSAFE, 93) + "AA"
        add("split", "anthropic_mid_prefix", [("user", ant[:9]), ("user", ant[9:])], ant[9:])
    return []
