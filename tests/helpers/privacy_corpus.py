"""Corpora for the privacy gate: fake but well-formed secrets, and ordinary code and prose.

Every secret is generated here from a seeded RNG (never a real key). Each positive item is
``(shape, text, needle)``: the gate must report a finding whose span covers ``needle``. This is the
older regression corpus; the benchmark corpus, by kind and with look-alikes, is
``bench/privacy/corpus.py`` (``corpus()``).
"""

from __future__ import annotations

import base64
import json
import random
import string

ALNUM = string.ascii_letters + string.digits
LOWER_HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _pem(rng: random.Random, label: str, lines: int = 8) -> str:
    body = "\n".join(_rand(rng, B64, 64) for _ in range(lines))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def secret_corpus(seed: int = 20240611) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    r = lambda alphabet, n: _rand(rng, alphabet, n)  # noqa: E731
    items: list[tuple[str, str, str]] = []

    def add(shape: str, text: str, needle: str) -> None:
        assert needle in text, shape
        items.append((shape, text, needle))

    for label in ("RSA PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY",
                  "ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY"):
        pem = _pem(rng, label)
        add(f"pem:{label}", f"here is my key file:\n{pem}\nthanks", pem.splitlines()[1])
    pgp = _pem(rng, "PGP PRIVATE KEY BLOCK").replace("-----\n", "-----\nVersion: GnuPG v2\n\n", 1)
    add("pgp_private_key_block", pgp, pgp.splitlines()[4])
    sa_key = _pem(rng, "PRIVATE KEY").replace("\n", "\\n")
    sa = json.dumps({"type": "service_account", "project_id": "demo-proj", "private_key_id": r(LOWER_HEX, 40),
                     "private_key": sa_key, "client_email": "bot@demo-proj.iam.gserviceaccount.com"}, indent=2)
    add("gcp_service_account_json", sa, sa_key[40:80])

    akia = "AKIA" + r(string.ascii_uppercase + string.digits, 16)
    add("aws_access_key_id", f"aws configure set aws_access_key_id {akia}", akia)
    asia = "ASIA" + r(string.ascii_uppercase + string.digits, 16)
    add("aws_session_key_id", f'"AccessKeyId": "{asia}",', asia)
    aws_secret = r(ALNUM + "/+", 40)
    add("aws_secret_access_key", f"[default]\naws_access_key_id = {akia}\naws_secret_access_key = {aws_secret}\n",
        aws_secret)

    for prefix in ("ghp_", "gho_", "ghs_", "ghu_"):
        tok = prefix + r(ALNUM, 36)
        add(f"github:{prefix}", f"git clone https://x-access-token:{tok}@github.com/acme/app.git", tok)
    pat = "github_pat_" + r(ALNUM, 22) + "_" + r(ALNUM, 59)
    add("github_fine_grained_pat", f"GH_TOKEN={pat} gh release list", pat)
    glpat = "glpat-" + r(URLSAFE, 20)
    add("gitlab_pat", f"curl --header 'PRIVATE-TOKEN: {glpat}' https://gitlab.example.com/api/v4/projects", glpat)
    xoxb = f"xoxb-{r(string.digits, 12)}-{r(string.digits, 13)}-{r(ALNUM, 24)}"
    add("slack_bot_token", f"client = WebClient(token='{xoxb}')", xoxb)
    xoxp = f"xoxp-{r(string.digits, 11)}-{r(string.digits, 12)}-{r(string.digits, 13)}-{r(LOWER_HEX, 32)}"
    add("slack_user_token", f"SLACK_USER_TOKEN: {xoxp}", xoxp)
    hook = f"https://hooks.slack.com/services/T{r(string.ascii_uppercase + string.digits, 8)}/B" \
           f"{r(string.ascii_uppercase + string.digits, 10)}/{r(ALNUM, 24)}"
    add("slack_webhook", f"requests.post('{hook}', json={{'text': 'deploy done'}})", hook[-24:])
    sk_live = "sk_live_" + r(ALNUM, 24)
    add("stripe_secret", f"stripe.api_key = \"{sk_live}\"", sk_live)
    rk_live = "rk_live_" + r(ALNUM, 24)
    add("stripe_restricted", f"const stripe = require('stripe')('{rk_live}');", rk_live)
    whsec = "whsec_" + r(ALNUM, 32)
    add("stripe_webhook_secret", f"endpoint_secret = '{whsec}'", whsec)
    sk_old = "sk-" + r(ALNUM, 48)
    add("openai_legacy", f"client = OpenAI(api_key=\"{sk_old}\")", sk_old)
    sk_proj = "sk-proj-" + r(URLSAFE, 120)
    add("openai_project", f"export OPENAI_API_KEY={sk_proj}", sk_proj)
    sk_ant = "sk-ant-api03-" + r(URLSAFE, 93) + "AA"
    add("anthropic", f"anthropic.Anthropic(api_key='{sk_ant}')", sk_ant)
    aiza = "AIza" + r(URLSAFE, 35)
    add("google_api_key", f"https://maps.googleapis.com/maps/api/geocode/json?address=Paris&key={aiza}", aiza)
    gocspx = "GOCSPX-" + r(URLSAFE, 28)
    add("google_oauth_client_secret", f'{{"client_id": "123.apps.googleusercontent.com", "client_secret": "{gocspx}"}}',
        gocspx)
    ya29 = "ya29." + r(URLSAFE, 120)
    add("google_oauth_access_token", f"creds.token  # {ya29}", ya29)
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(json.dumps({"sub": r(string.digits, 10), "exp": 1893456000}).encode()
                                       ).decode().rstrip("=")
    jwt = f"{header}.{payload}.{r(URLSAFE, 43)}"
    add("jwt", f"fetch(url, {{ headers: {{ Authorization: `Bearer ${{jwt}}` }} }}) // jwt = {jwt}", jwt)
    twilio_sk = "SK" + r(LOWER_HEX, 32)
    add("twilio_api_key", f"client = Client('{twilio_sk}', api_secret, account_sid)", twilio_sk)
    twilio_token = r(LOWER_HEX, 32)
    add("twilio_auth_token", f"TWILIO_ACCOUNT_SID=AC{r(LOWER_HEX, 32)}\nTWILIO_AUTH_TOKEN={twilio_token}\n",
        twilio_token)
    sg = f"SG.{r(URLSAFE, 22)}.{r(URLSAFE, 43)}"
    add("sendgrid", f"sg = SendGridAPIClient('{sg}')", sg)
    npm = "npm_" + r(ALNUM, 36)
    add("npm_token", f"//registry.npmjs.org/:_authToken={npm}", npm)
    pypi = "pypi-AgEIcHlwaS5vcmc" + r(URLSAFE, 70)
    add("pypi_token", f"[pypi]\n  username = __token__\n  password = {pypi}\n", pypi)
    acct_key = r(B64, 86) + "=="
    azure = (f"DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey={acct_key};"
             "EndpointSuffix=core.windows.net")
    add("azure_storage_connection_string", f'"AzureWebJobsStorage": "{azure}"', acct_key)
    azure_sb = f"Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={r(B64, 43)}="
    add("azure_service_bus", azure_sb, azure_sb.split("SharedAccessKey=")[1])
    azure_cs = f"{r(ALNUM, 3)}8Q~{r(ALNUM + '_~.-', 34)}"
    add("azure_ad_client_secret", f"AZURE_CLIENT_ID=abc\nclient_credential = \"{azure_cs}\"", azure_cs)
    sas = r(ALNUM, 40) + "%3D"
    add("azure_sas_url", f"https://acme.blob.core.windows.net/c/f.txt?sv=2022-11-02&ss=b&sig={sas}", sas)
    pg_pw = r(ALNUM, 14)
    add("postgres_url", f"DATABASE_URL=postgres://app_user:{pg_pw}@db.internal:5432/app", pg_pw)
    my_pw = r(ALNUM, 10) + "!x"
    add("mysql_url", f"engine = create_engine('mysql+pymysql://root:{my_pw}@127.0.0.1/shop')", my_pw)
    mongo_pw = r(ALNUM, 16)
    add("mongodb_srv_url", f"MONGO_URI=\"mongodb+srv://admin:{mongo_pw}@cluster0.ab1cd.mongodb.net/test\"", mongo_pw)
    redis_pw = r(ALNUM, 20)
    add("redis_url_password_only", f"REDIS_URL: redis://:{redis_pw}@cache:6379/0", redis_pw)
    basic_pw = r(ALNUM, 12)
    add("basic_auth_url", f"pip install --index-url https://deploy:{basic_pw}@pypi.acme.dev/simple pkg", basic_pw)
    env_pw = r(ALNUM, 12) + "#9"
    add("env_password", f"DB_HOST=localhost\nDB_PASSWORD={env_pw}\n", env_pw)
    yaml_secret = r(ALNUM, 24)
    add("yaml_secret", f"auth:\n  client_id: web\n  client_secret: {yaml_secret}\n", yaml_secret)
    json_key = r(ALNUM, 32)
    add("json_api_key", json.dumps({"service": "weather", "api_key": json_key, "units": "metric"}), json_key)
    py_token = r(ALNUM, 30)
    add("python_token", f"def connect():\n    token = \"{py_token}\"\n    return Api(token)\n", py_token)
    go_pw = r(ALNUM, 12)
    add("go_password", f"func main() {{\n\tpassword := \"{go_pw}\"\n\tdb.Open(password)\n}}", go_pw)
    ini_pw = "S3cr" + r(ALNUM, 6) + "!"
    add("ini_password", f"[database]\nhost = db01\nuser = app\npassword = {ini_pw}\n", ini_pw)
    typed = r(ALNUM, 18)
    add("python_annotated", f"class Config:\n    api_key: str = \"{typed}\"\n", typed)
    ado = "P@" + r(ALNUM, 10)
    add("ado_connection_string", f"Server=tcp:sql01,1433;Database=crm;User Id=sa;Password={ado};", ado)
    rb = r(ALNUM, 14)
    add("ruby_hash", f"ActiveRecord::Base.establish_connection(:adapter => 'pg', :password => '{rb}')", rb)
    flag = r(ALNUM, 16)
    add("cli_flag", f"./deploy.sh --env prod --token {flag}", flag)
    compose = r(ALNUM, 16)
    add("compose_env", f"services:\n  db:\n    image: postgres:16\n    environment:\n"
                       f"      POSTGRES_PASSWORD: {compose}\n", compose)
    xml = r(ALNUM, 14)
    add("xml_password", f"<server><id>nexus</id><username>ci</username><password>{xml}</password></server>", xml)
    signing = r(ALNUM + "+/", 44)
    add("dotenv_block", f"APP_ENV=production\nPORT=8080\nSIGNING_MATERIAL={signing}\nLOG_LEVEL=info\n", signing)
    salt = r(ALNUM, 32)
    add("high_entropy_weak_name", f"HMAC_SALT = '{salt}'", salt)
    heroku = f"{r(LOWER_HEX, 8)}-{r(LOWER_HEX, 4)}-{r(LOWER_HEX, 4)}-{r(LOWER_HEX, 4)}-{r(LOWER_HEX, 12)}"
    add("heroku_api_key_uuid", f"heroku_api_key: {heroku}", heroku)
    hrku = "HRKU-AA" + r(URLSAFE, 58)
    add("heroku_new_token", f"echo {hrku} | heroku auth:token", hrku)
    uid = base64.b64encode(r(string.digits, 18).encode()).decode().rstrip("=")
    discord = f"{uid}.{r(URLSAFE, 6)}.{r(URLSAFE, 38)}"
    add("discord_bot_token", f"client.run('{discord}')", discord)
    dhook = f"https://discord.com/api/webhooks/{r(string.digits, 18)}/{r(URLSAFE, 68)}"
    add("discord_webhook", f"WEBHOOK = \"{dhook}\"", dhook[-68:])
    tg = f"{r(string.digits, 10)}:AA{r(URLSAFE, 33)}"
    add("telegram_bot_token", f"bot = telebot.TeleBot(\"{tg}\")", tg)
    mg = "key-" + r(LOWER_HEX, 32)
    add("mailgun_legacy", f"auth=(\"api\", \"{mg}\")", mg)
    mg2 = f"{r(LOWER_HEX, 32)}-{r(LOWER_HEX, 8)}-{r(LOWER_HEX, 8)}"
    add("mailgun_new", f"MG_SENDING = {mg2}", mg2)
    do = "dop_v1_" + r(LOWER_HEX, 64)
    add("digitalocean", f"doctl auth init -t {do}", do)
    hf = "hf_" + r(ALNUM, 34)
    add("huggingface", f"huggingface-cli login --token {hf}", hf)
    shp = "shpat_" + r(LOWER_HEX, 32)
    add("shopify", f"X-Shopify-Access-Token: {shp}", shp)
    dapi = "dapi" + r(LOWER_HEX, 32)
    add("databricks", f"databricks configure --token <<< {dapi}", dapi)
    hvs = "hvs." + r(URLSAFE, 90)
    add("vault_token", f"VAULT_TOKEN={hvs} vault kv get secret/app", hvs)
    age = "AGE-SECRET-KEY-1" + "".join(rng.choice("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L") for _ in range(58))
    add("age_secret_key", f"# created: 2024-01-01\n# public key: age1xyz\n{age}\n", age)
    gsk = "gsk_" + r(ALNUM, 52)
    add("groq", f"Groq(api_key=os.environ.get('GROQ', '{gsk}'))", gsk)
    bearer = r(URLSAFE, 40)
    add("bearer_header", f"curl -H 'Authorization: Bearer {bearer}' https://api.acme.io/v2/me", bearer)
    basic = base64.b64encode(f"admin:{r(ALNUM, 12)}".encode()).decode()
    add("basic_auth_header", f"Authorization: Basic {basic}", basic)
    return items


NEGATIVE_CORPUS: list[str] = [
    # Python
    "import os\n\npassword = os.environ[\"DB_PASSWORD\"]\ntoken = os.getenv('GITHUB_TOKEN')\n",
    "def login(user: str, password: str) -> bool:\n    return check_password(password, user.password_hash)\n",
    "@dataclass\nclass Endpoint:\n    name: str\n    api_key: str | None = None\n    token: Optional[str] = None\n",
    "parser.add_argument('--password', help='the password to use (read from a prompt when omitted)')",
    "if not password:\n    raise ValueError('password must not be empty')\nif password == confirm:\n    save(password)",
    "hashed = hashlib.sha256(data).hexdigest()  # e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "request_id = uuid.uuid4()  # 550e8400-e29b-41d4-a716-446655440000\nsession_id = '6fa459ea-ee8a-3ca4-894e-db77e160355e'",
    "model = Llama(model_path=path, n_ctx=4096, n_threads=8, n_gpu_layers=-1)\nout = model('Q: 2+2? A:', max_tokens=32)",
    "for token in tokenizer.encode(text):\n    counts[token] += 1\nmax_tokens = 512\ntoken_count = len(tokens)",
    "secret_name = 'db-credentials'\npassword_min_length = 12\ntoken_url = 'https://oauth2.googleapis.com/token'",
    "api_key = settings.api_key\nsecret = config['secret']\npassword = self.password or prompt()",
    "conn = psycopg2.connect(host='localhost', dbname='app', user='app', password=password)",
    "logger.info('user %s changed their password', user.id)\nlogger.debug('token refreshed for %s', client_id)",
    "API_KEY_ENV = 'OPENAI_API_KEY'\nkey = os.environ.get(API_KEY_ENV)\nif key is None:\n    sys.exit('set OPENAI_API_KEY')",
    "cache_key = f'{user_id}:{page}'\nkey = (host, port)\nfor key, value in sorted(d.items()):\n    print(key, value)",
    "TOKEN_TYPE = 'bearer'\nAUTH_HEADER = 'Authorization'\nheaders = {AUTH_HEADER: f'Bearer {token}'}",
    "class PasswordResetView(View):\n    template_name = 'accounts/password_reset.html'\n    success_url = '/done/'",
    "img = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='",
    "commit = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3'\nparent = '2fd4e1c67a2d28fced849ee1bb76e7391b93eb12'",
    "self.assertEqual(resp.status_code, 401)\nself.assertIn('invalid token', resp.json()['detail'])",
    # JavaScript / TypeScript
    "const password = process.env.DB_PASSWORD;\nconst apiKey = process.env.STRIPE_KEY ?? '';",
    "export function hashPassword(password: string): Promise<string> {\n  return bcrypt.hash(password, 12);\n}",
    "const { token } = await res.json();\nlocalStorage.setItem('token', token);",
    "<input type=\"password\" name=\"password\" placeholder=\"Enter your password\" autocomplete=\"current-password\">",
    "const config = {\n  password: userPassword,\n  token: authToken,\n  secret: null,\n};",
    "import { v4 as uuidv4 } from 'uuid';\nconst id = uuidv4();\nconst integrity = 'sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC';",
    "app.post('/login', passport.authenticate('local', { failureRedirect: '/login' }));",
    "const tokens = text.split(/\\s+/);\nconst tokenCount = tokens.length;\nconsole.log(`tokens: ${tokenCount}`);",
    # Go
    "func (s *Server) Login(ctx context.Context, req *pb.LoginRequest) (*pb.Token, error) {\n\tif req.Password == \"\" {\n\t\treturn nil, ErrEmpty\n\t}\n}",
    "password := os.Getenv(\"PGPASSWORD\")\ntoken := r.Header.Get(\"Authorization\")\nkey := fmt.Sprintf(\"%s/%d\", bucket, id)",
    "type Config struct {\n\tPassword string `yaml:\"password\" json:\"password,omitempty\"`\n\tToken    string `env:\"TOKEN\"`\n}",
    # SQL
    "CREATE TABLE users (\n  id BIGSERIAL PRIMARY KEY,\n  email TEXT NOT NULL UNIQUE,\n  password_hash TEXT NOT NULL\n);",
    "SELECT id, email FROM users WHERE reset_token IS NOT NULL AND reset_token_expires_at < now();",
    "ALTER ROLE app_user WITH PASSWORD :'app_password';\nGRANT SELECT ON ALL TABLES IN SCHEMA public TO app_user;",
    # shell
    "read -rsp 'Password: ' PASSWORD\necho\nexport PGPASSWORD=\"$PASSWORD\"\npsql -h db -U app",
    "git log --oneline -n 3\n4f2a9c1 fix token refresh\n9b8e7d6 add password reset\nc0ffee1 bump deps",
    "docker run -e POSTGRES_PASSWORD=${POSTGRES_PASSWORD} -p 5432:5432 postgres:16",
    "curl -s -H \"Authorization: Bearer $TOKEN\" https://api.github.com/user | jq .login",
    "sha256sum model.gguf\nb179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  model.gguf",
    "ssh-keygen -t ed25519 -C 'me@laptop' -f ~/.ssh/id_ed25519\nssh-add ~/.ssh/id_ed25519",
    "kubectl create secret generic db-credentials --from-literal=username=app --from-file=password=./pw.txt",
    # config files
    "[database]\nhost = localhost\nport = 5432\nuser = app\npassword = ${DB_PASSWORD}\n",
    "database:\n  host: db\n  user: app\n  password: <your-password>\n  pool: 10\n",
    "spec:\n  containers:\n    - name: api\n      env:\n        - name: API_TOKEN\n          valueFrom:\n            secretKeyRef:\n              name: api-secrets\n              key: token\n",
    "{\n  \"name\": \"web\",\n  \"version\": \"1.4.2\",\n  \"scripts\": {\"test\": \"vitest\", \"build\": \"vite build\"}\n}",
    "{\"type\": \"object\", \"properties\": {\"password\": {\"type\": \"string\", \"minLength\": 8}, \"token\": {\"type\": \"string\"}}}",
    "# .env.example\nDATABASE_URL=postgres://user:password@localhost:5432/app\nSECRET_KEY=changeme\nAPI_TOKEN=xxxxxxxxxxxxxxxx\n",
    "OPENAI_API_KEY=<your-key>\nANTHROPIC_API_KEY=your_api_key_here\nDEBUG=true\n",
    "[tool.poetry]\nname = \"demo\"\nversion = \"0.1.0\"\n[tool.poetry.dependencies]\npython = \"^3.11\"\n",
    "NODE_ENV=production\nPORT=3000\nLOG_LEVEL=info\nBUILD_SHA=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\nREGION=eu-west-1\n",
    "server:\n  port: 8080\n  ssl:\n    key-store: classpath:keystore.p12\n    key-store-password: ${KEYSTORE_PASSWORD}\n",
    "token_endpoint: https://login.example.com/oauth2/token\ngrant_type: client_credentials\nscope: read write",
    # prose
    "To reset your password, click 'Forgot password' on the sign-in page and follow the link we email you.",
    "Never commit your API key to git. Store it in an environment variable such as OPENAI_API_KEY instead.",
    "The tokenizer splits text into tokens; a token is roughly four characters of English text.",
    "Password: must be at least 12 characters long and include a number.",
    "We rotated the secret last week; the new one lives in the vault under prod/api.",
    "The commit 4f2a9c1e3b7d8a6f5e4d3c2b1a0f9e8d7c6b5a49 fixed the race in the token bucket rate limiter.",
    "Use `baton keys set openai` to store the key in your OS keyring; Baton never writes it to disk.",
    "A JWT has three parts separated by dots: header, payload and signature, each base64url-encoded.",
    "The skeleton key opened every door in the old house, and the password to the wifi was on the fridge.",
    "sk-learn is not a thing; scikit-learn is imported as sklearn.",
    "The function accepts an optional key argument, like sorted(items, key=len).",
    "Our SLA: p99 latency under 300 ms; tokens per second above 40 on the reference machine.",
    "long_identifier_name_for_the_primary_database_connection_pool_size = 20\nAbstractSingletonProxyFactoryBean",
    "Error: authentication failed for user \"app\" (password authentication failed). Check PGPASSWORD.",
    # lockfiles, digests, urls without credentials
    "\"node_modules/react\": {\n  \"version\": \"18.2.0\",\n  \"resolved\": \"https://registry.npmjs.org/react/-/react-18.2.0.tgz\",\n"
    "  \"integrity\": \"sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==\"\n}",
    "golang.org/x/crypto v0.21.0 h1:X31++rzVUdKhX5sWmSOFZxx8UW/ldWx55cbf08iNAMA=\n"
    "golang.org/x/crypto v0.21.0/go.mod h1:0BP0Qs5oWzsRzXKpdGOIcwEVtHUnkR4WXb4oDmXuOo4=",
    "FROM python:3.11-slim@sha256:2a4e1e8c1f6a1b8d9c7e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c\nRUN pip install --no-cache-dir -r requirements.txt",
    "git remote add origin git@github.com:acme/app.git\ngit clone ssh://git@gitlab.example.com:2222/team/repo.git",
    "Visit http://localhost:8080/admin or http://[::1]:8741/v1/models; email ops@example.com for access.",
    "arn:aws:iam::123456789012:role/deploy\narn:aws:s3:::acme-artifacts/builds/2024-06-11/app.tar.gz",
    "started 12:30:45, finished 13:02:11 (elapsed 00:31:26); see C:\\Users\\dev\\AppData\\Local\\baton\\logs",
    "SQLALCHEMY_DATABASE_URI = 'postgresql://localhost/app'\nREDIS_URL = 'redis://cache:6379/0'",
    "resource \"aws_iam_access_key\" \"ci\" {\n  user = aws_iam_user.ci.name\n}\noutput \"secret\" {\n  value     = aws_iam_access_key.ci.secret\n  sensitive = true\n}",
    "- uses: actions/checkout@8ade135a41bc03ea155e62f844d1f1ae1d4e6e76\n  with:\n    token: ${{ secrets.GITHUB_TOKEN }}\n    fetch-depth: 0",
    "public_key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop'",
    "let re = /^(?=.*\\d)(?=.*[a-z])(?=.*[A-Z]).{8,}$/; // password must have a digit, a lower and an upper case letter",
]
