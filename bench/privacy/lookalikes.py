"""Look-alikes for the privacy gate: text shaped like a secret that leaks nothing when sent
(hashes, UUIDs, IDs, images, documented placeholders and example keys), per benchmark kind."""

from __future__ import annotations

import base64
import hashlib
import json
import string
import uuid

from bench.privacy.corpus import ALNUM, HEXL, UPPER_NUM, Case, Gen


def lookalikes(seed: int = 2611) -> list[Case]:
    g = Gen(seed)
    out: list[Case] = []

    def add(kind: str, shape: str, text: str | list[tuple[str, str]]) -> None:
        msgs = tuple([("user", text)] if isinstance(text, str) else text)
        out.append(Case(kind, shape, msgs, (), positive=False))

    sha1 = lambda: hashlib.sha1(g.s(ALNUM, 20).encode()).hexdigest()  # noqa: E731
    sha256 = lambda: hashlib.sha256(g.s(ALNUM, 20).encode()).hexdigest()  # noqa: E731
    uid = lambda: str(uuid.UUID(int=g.rng.getrandbits(128), version=4))  # noqa: E731
    for _ in range(2):
        add("cloud", "aws_docs_example", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        add("cloud", "aws_arn_account", f"arn:aws:iam::{g.s(string.digits, 12)}:role/deploy-{g.s('abcdef', 4)}")
        add("cloud", "aws_request_id", f"An error occurred (AccessDenied); RequestId: {uid()}, ETag \"{g.s(HEXL, 32)}\"")
        add("cloud", "aws_placeholder", "aws configure set aws_secret_access_key YOUR_SECRET_ACCESS_KEY")
        add("cloud", "gcp_project_ids", f"gcloud config set project acme-prod-{g.s(string.digits, 6)}; "
            f"service account ci@acme-prod.iam.gserviceaccount.com, key id {g.s(HEXL, 40)}")
        add("cloud", "azure_ids", f"az account set --subscription {uid()} --tenant {uid()}")
        add("vcs", "git_shas", f"git log --oneline\n{sha1()[:7]} fix token refresh\n{sha1()} merge main")
        add("vcs", "gh_placeholder", "export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
        add("vcs", "actions_secret_ref", "with:\n  token: ${{ secrets.GITHUB_TOKEN }}\n  ref: " + sha1())
        add("vcs", "gitlab_placeholder", "curl --header \"PRIVATE-TOKEN: <your_access_token>\" https://gitlab.com/api/v4/user")
        add("vcs", "commit_url", f"see https://github.com/acme/api/commit/{sha1()} and PR #{g.s(string.digits, 4)}")
        add("chat", "slack_ids", f"channel C{g.s(UPPER_NUM, 10)}, user U{g.s(UPPER_NUM, 10)}, "
            f"https://acme.slack.com/archives/C{g.s(UPPER_NUM, 10)}/p{g.s(string.digits, 16)}")
        add("chat", "slack_docs_placeholder", "SLACK_BOT_TOKEN=xoxb-your-bot-token\n"
            "webhook: https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX")
        add("chat", "discord_snowflakes", f"guild {g.s(string.digits, 18)} channel {g.s(string.digits, 19)}"
            f" invite https://discord.gg/{g.s(ALNUM, 8)}")
        add("chat", "telegram_username", "talk to @acme_release_bot, bot id 6123456789 (public)")
        add("payment", "stripe_docs_test_key", "stripe.api_key = \"sk_test_4eC39HqLyjWDarjtT1zdp7dc\"")
        add("payment", "stripe_publishable", f"const stripe = Stripe('pk_live_{g.s(ALNUM, 24)}');")
        add("payment", "stripe_object_ids", f"customer cus_{g.s(ALNUM, 14)} paid pi_{g.s(ALNUM, 24)} "
            f"(charge ch_{g.s(ALNUM, 24)})")
        add("payment", "stripe_placeholder", "STRIPE_SECRET_KEY=sk_live_...  # from the dashboard")
        add("ai", "openai_placeholder", "Set OPENAI_API_KEY=sk-... in your shell, then run the script.")
        add("ai", "openai_x_placeholder", "client = OpenAI(api_key=\"sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\")")
        add("ai", "env_reference", "ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY}\nHF_TOKEN=<your-token>\nAPI_KEY=YOUR_API_KEY")
        add("ai", "model_ids", "models: gpt-4o-mini-2024-07-18, claude-3-5-sonnet-20241022, "
            "meta-llama/Llama-3.1-8B-Instruct, sk-learn? no: scikit-learn")
        add("ai", "tokens_prose", "max_tokens=512, the tokenizer produced 2048 tokens; token_id 128009 is <|eot_id|>")
        add("private_key", "public_key_pem", "-----BEGIN PUBLIC KEY-----\n" + "\n".join(
            base64.b64encode(bytes.fromhex("30820122300d06092a864886f70d01010105000382010f00") +
                             bytes(g.rng.randrange(256) for _ in range(270))).decode()[i:i + 64]
            for i in range(0, 392, 64)) + "\n-----END PUBLIC KEY-----")
        cert = base64.b64encode(bytes.fromhex("308203") + bytes(g.rng.randrange(256) for _ in range(300))).decode()
        add("private_key", "certificate_pem", "-----BEGIN CERTIFICATE-----\n" + "\n".join(
            cert[i:i + 64] for i in range(0, len(cert), 64)) + "\n-----END CERTIFICATE-----")
        add("private_key", "ssh_public_key", f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{g.s(ALNUM + '+/', 43)} me@laptop")
        add("private_key", "pem_placeholder", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----")
        add("private_key", "fingerprint", f"The key fingerprint is SHA256:{g.s(ALNUM + '+/', 43)} me@laptop")
        add("private_key", "pgp_signature", "-----BEGIN PGP SIGNATURE-----\n\n" + "\n".join(
            g.s(ALNUM + "+/", 64) for _ in range(4)) + "\n=" + g.s(ALNUM, 4) + "\n-----END PGP SIGNATURE-----")
        add("connection_string", "placeholder_password", "DATABASE_URL=postgres://user:password@localhost:5432/app")
        add("connection_string", "no_password", f"postgresql://localhost/app_{g.s('abcdef', 3)} and redis://cache:6379/0")
        add("connection_string", "env_interpolation", "mongodb://${MONGO_USER}:${MONGO_PASSWORD}@mongo:27017/admin")
        add("connection_string", "trusted_connection", "Server=.\\SQLEXPRESS;Database=crm;Trusted_Connection=True;")
        add("connection_string", "angle_placeholder", "postgresql://app:<password>@db.internal:5432/app")
        add("cli_credential", "curl_env_vars", "curl -u \"$JENKINS_USER:$JENKINS_TOKEN\" https://ci/api/json")
        add("cli_credential", "docker_uid", "docker run --rm -u 1000:1000 -v $PWD:/src alpine ls")
        add("cli_credential", "mysql_prompt", "mysql -h db -u root -p shop   # asks for the password")
        add("cli_credential", "git_push_u", "git push -u origin feature/token-refresh")
        add("cli_credential", "read_secret", "read -rs PGPASSWORD && export PGPASSWORD && psql -W -h db")
        add("cli_credential", "ssh_port", f"ssh -p 2222 -i ~/.ssh/id_ed25519 deploy@{g.s(string.digits, 2)}.example.net")
        add("config_credential", "netrc_placeholder", "machine api.heroku.com login me@example.com password <your-api-key>")
        add("config_credential", "pgpass_doc", "each line of ~/.pgpass is hostname:port:database:username:password")
        add("config_credential", "spring_placeholder", "spring.datasource.password=${DB_PASSWORD}")
        add("config_credential", "settings_env", "PASSWORD = os.environ['DB_PASSWORD']\nSECRET_KEY = env('SECRET_KEY')")
        add("config_credential", "npmrc_env", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}")
        add("config_credential", "schema", json.dumps({"password": {"type": "string", "minLength": 12}}))
        add("prose", "password_policy", "Password: must be at least 12 characters, with a digit and a symbol.")
        add("prose", "password_stored", "my password is stored in 1Password, and the token is valid for 3600 seconds")
        add("prose", "secret_is_to", "The secret is to batch requests; the key is caching.")
        add("prose", "password_incorrect", "It says the password is incorrect even though the PIN is correct.")
        add("prose", "api_key_where", "My API key is in the OPENAI_API_KEY environment variable, not in the code.")
        add("jwt", "jwt_io_example", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9l"
            "IiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
        add("jwt", "jwt_header_only", "a JWT header like eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9 decodes to {\"alg\":\"RS256\"}")
        add("jwt", "bearer_placeholder", "Authorization: Bearer <token>\nAuthorization: Bearer $ACCESS_TOKEN")
        add("jwt", "jwks_kid", f"\"kid\": \"{g.s(ALNUM, 22)}\", \"alg\": \"RS256\", \"use\": \"sig\"")
        add("url_secret", "plain_query", f"https://shop.example.com/search?q=token+refresh&page={g.s(string.digits, 2)}"
            "&sort=desc&utm_source=newsletter")
        add("url_secret", "doc_ids", f"https://docs.google.com/document/d/1{g.s(ALNUM + '-_', 43)}/edit and "
            f"https://www.youtube.com/watch?v={g.s(ALNUM + '-_', 11)}")
        add("url_secret", "query_placeholder", "https://api.example.com/v1/data?api_key=YOUR_API_KEY&token=${TOKEN}")
        add("url_secret", "asset_hash", f"<script src=\"/assets/app.{g.s(HEXL, 8)}.js?v={sha1()}\"></script>")
        add("url_secret", "oauth_state", f"https://login.example.com/authorize?client_id=web&state={g.s(ALNUM, 16)}"
            f"&code_challenge={g.s(ALNUM + '-_', 43)}&code_challenge_method=S256")
        add("url_secret", "user_no_password", "git clone https://alice@bitbucket.org/acme/repo.git")
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(g.rng.randrange(256) for _ in range(300))).decode()
        add("encoded", "data_image", f"<img src=\"data:image/png;base64,{png}\">")
        add("encoded", "base64_plain_text", base64.b64encode(json.dumps({"theme": "dark", "lang": "en",
                                                                          "page": 3}).encode()).decode())
        add("encoded", "hex_plain_text", "payload: " + "hello from the build server, all green".encode().hex())
        add("encoded", "sha256_digest", f"sha256:{sha256()}  model.gguf\nintegrity sha512-"
            + base64.b64encode(hashlib.sha512(g.s(ALNUM, 9).encode()).digest()).decode())
        add("encoded", "url_encoded_query", "redirect=https%3A%2F%2Fexample.com%2Fcallback%3Fnext%3D%252Fhome")
        add("encoded", "uuid_list", f"ids: {uid()}, {uid()}, {uid()}")
        add("split", "sha_then_uuid", [("user", f"commit {sha1()}"), ("assistant", "ok"), ("user", f"{uid()} failed")])
        add("split", "placeholder_then_name", [("user", "Set OPENAI_API_KEY=sk-..."), ("user", "proj-alpha-staging next")])
        add("split", "prefix_in_prose", [("user", "GitHub tokens start with ghp_ and AWS key ids with AKIA"),
                                         ("assistant", "Right."), ("user", f"build {g.s(string.digits, 10)} "
                                                                           f"ref {g.s(UPPER_NUM, 16)} failed")])
        add("split", "halves_of_prose", [("user", "my password is"), ("user", "in the vault, not here")])
    return out + probe_lookalikes(g)


def probe_lookalikes(g: Gen) -> list[Case]:
    """Look-alikes beside the shapes of ``corpus_probe``: documented AWS and jwt.io examples, key ids
    next to hashes, prefixes named in a thread of ordinary words, passwords named in other languages
    without one."""
    out: list[Case] = []

    def add(kind: str, shape: str, text: str | list[tuple[str, str]]) -> None:
        msgs = tuple([("user", text)] if isinstance(text, str) else text)
        out.append(Case(kind, shape, msgs, (), positive=False))

    sha1 = lambda: hashlib.sha1(g.s(ALNUM, 20).encode()).hexdigest()  # noqa: E731
    uid = lambda: str(uuid.UUID(int=g.rng.getrandbits(128), version=4))  # noqa: E731
    system = "You are a helpful assistant. Answer briefly."
    for _ in range(2):
        add("cloud", "aws_docs_export", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
            "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nexport AWS_DEFAULT_REGION=us-west-2")
        add("cloud", "aws_docs_csv", "Access key ID,Secret access key\nAKIAIOSFODNN7EXAMPLE,"
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        add("cloud", "aws_id_beside_hashes", f"key AKIAIOSFODNN7EXAMPLE uploaded s3://acme/{sha1()} (ETag {sha1()}, "
            f"checksum {base64.b64encode(hashlib.sha1(g.s(ALNUM, 9).encode()).digest()).decode()})")
        add("cloud", "google_key_placeholder", "apiKey: \"AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\", // from the console\n"
            "Google API keys start with AIza and are 39 characters long.")
        add("email", "sendgrid_placeholder", "SENDGRID_API_KEY=<your-sendgrid-key>  # keys look like SG.xxxxx.yyyyy")
        add("email", "sendgrid_ids", f"status 202, X-Message-Id: {g.s(ALNUM, 22)}, template d-{g.s(HEXL, 32)}")
        add("email", "mailgun_env", "curl -s --user \"api:$MAILGUN_API_KEY\" https://api.mailgun.net/v3/mg.acme.io/messages")
        add("jwt", "jwt_io_new_example", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4"
            "gRG9lIiwiYWRtaW4iOnRydWUsImlhdCI6MTUxNjIzOTAyMn0.KMUFsIDTnFmyG3nMiGM6H9FNFUROf3wh7SmqJp-QV30")
        add("jwt", "jwt_payload_only", "the payload eyJzdWIiOiIxMjM0NTY3ODkwIiwiYWRtaW4iOnRydWV9 decodes to "
            "{\"sub\":\"1234567890\",\"admin\":true}")
        add("jwt", "jwt_snipped", "Authorization: Bearer eyJhbGciOiJSUzI1NiIs...<snip>")
        add("encoded", "url_encoded_placeholders", "aws_secret_access_key%3DYOUR_SECRET_KEY&password%3D%24%7BDB_PASSWORD%7D")
        add("split", "stripe_prefixes_and_words", [("user", "Stripe keys start with sk_live_ and test ones with sk_test_"),
                                                   ("assistant", "The answer is 42."),
                                                   ("user", "continued: which one do I use in CI?")])
        add("split", "prefix_then_sha", [("system", system), ("user", "the token starts with ghp_ as usual"),
                                         ("assistant", "OK."), ("user", f"commit {sha1()} (continued)")])
        add("split", "placeholder_halves", [("user", "my token is ghp_xxxxxxxx"), ("assistant", "Right."),
                                            ("user", "xxxxxxxxxxxxxxxxxxxxxxxxxxxx, see the docs")])
        add("split", "ids_across_serve_turns", [("user", f"job {uid()} failed"), ("assistant", "Which step?"),
                                                ("user", f"step build-{g.s(HEXL, 7)}, retry 3")])
        for text in ("Mot de passe oublié ? Cliquez sur le lien.", "Das Passwort muss mindestens 12 Zeichen lang sein.",
                     "La contraseña es incorrecta.", "Пароль неверный, попробуйте ещё раз.", "密码错误，请重试。",
                     "パスワードを忘れた場合はこちら", "la clave del éxito es la constancia",
                     "senha: mínimo de 8 caracteres", "hasło musi mieć co najmniej 12 znaków"):
            add("prose", "password_word_other_language", text)
        add("cli_credential", "curl_u_prompt", "curl -u deploy https://ci.acme.io/api  # asks for the password!")
    return out
