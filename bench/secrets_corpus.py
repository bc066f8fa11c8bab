"""Labelled, generated corpus for bench/secrets_bench.py (deterministic for a seed).

Every secret is fake: random characters in the provider's published format. Positives
put one secret of a known type in a carrier (code, config, log, chat prompt, clinical
note); negatives put a look-alike that is not a secret (git SHA, UUID, sha256, base64
image data, documentation placeholders, MRNs and dates, URLs without credentials)
in the same carriers. Standard library only, so the peers venv can import it too.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

__all__ = ["NEGATIVE_KINDS", "SECRET_KINDS", "corpus"]

_ALNUM = string.ascii_letters + string.digits
_B64 = _ALNUM + "+/"
_URLSAFE = _ALNUM + "-_"
_HEX = "0123456789abcdef"


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def _pem_body(rng: random.Random, lines: int) -> str:
    return "\n".join(_r(rng, _B64, 64) for _ in range(lines))


def aws_access_key(rng: random.Random) -> str:
    key = rng.choice(["AKIA", "ASIA"]) + _r(rng, string.ascii_uppercase + "234567", 16)
    return rng.choice([f"aws_access_key_id = {key}", f"AWS_ACCESS_KEY_ID={key}", f"key {key}"])


def aws_secret_key(rng: random.Random) -> str:
    key = _r(rng, _B64, 40)
    return rng.choice(
        [f"aws_secret_access_key = {key}", f'AWS_SECRET_ACCESS_KEY="{key}"', f"aws secret: {key}"]
    )


def gcp_service_account(rng: random.Random) -> str:
    pem = "-----BEGIN PRIVATE KEY-----\n" + _pem_body(rng, 6) + "\n-----END PRIVATE KEY-----\n"
    doc = {
        "type": "service_account",
        "project_id": f"proj-{_r(rng, string.ascii_lowercase, 6)}",
        "private_key_id": _r(rng, _HEX, 40),
        "private_key": pem,
        "client_email": "svc@proj.iam.gserviceaccount.com",
    }
    return json.dumps(doc, indent=2)


def azure_storage(rng: random.Random) -> str:
    key = _r(rng, _B64, 86) + "=="
    acct = _r(rng, string.ascii_lowercase, 10)
    conn = (
        f"DefaultEndpointsProtocol=https;AccountName={acct};AccountKey={key};"
        "EndpointSuffix=core.windows.net"
    )
    return rng.choice([conn, f'AZURE_STORAGE_CONNECTION_STRING="{conn}"'])


def github_token(rng: random.Random) -> str:
    tok = rng.choice(["ghp_", "gho_", "ghs_"]) + _r(rng, _ALNUM, 36)
    if rng.random() < 0.3:
        tok = "github_pat_" + _r(rng, _ALNUM + "_", 82)
    return rng.choice([f"GITHUB_TOKEN={tok}", f"git clone with token {tok}", f"auth: {tok}"])


def gitlab_token(rng: random.Random) -> str:
    tok = "glpat-" + _r(rng, _URLSAFE, 20)
    return rng.choice([f"GITLAB_TOKEN={tok}", f"PRIVATE-TOKEN: {tok}", f"use {tok} for CI"])


def slack_token(rng: random.Random) -> str:
    tok = (
        f"xox{rng.choice('bp')}-{_r(rng, string.digits, 12)}-{_r(rng, string.digits, 13)}"
        f"-{_r(rng, _ALNUM, 24)}"
    )
    return rng.choice([f"SLACK_BOT_TOKEN={tok}", f"slack: {tok}", f"token {tok}"])


def stripe_key(rng: random.Random) -> str:
    tok = rng.choice(["sk_live_", "rk_live_"]) + _r(rng, _ALNUM, rng.choice([24, 99]))
    return rng.choice([f"STRIPE_SECRET_KEY={tok}", f"stripe.api_key = '{tok}'", f"key {tok}"])


def openai_key(rng: random.Random) -> str:
    if rng.random() < 0.5:
        tok = "sk-proj-" + _r(rng, _URLSAFE, 74) + "T3BlbkFJ" + _r(rng, _URLSAFE, 74)
    else:
        tok = "sk-" + _r(rng, _ALNUM, 20) + "T3BlbkFJ" + _r(rng, _ALNUM, 20)
    return rng.choice([f"OPENAI_API_KEY={tok}", f"client = OpenAI(api_key='{tok}')", f"{tok}"])


def anthropic_key(rng: random.Random) -> str:
    tok = "sk-ant-api03-" + _r(rng, _URLSAFE, 93) + "AA"
    return rng.choice([f"ANTHROPIC_API_KEY={tok}", f"x-api-key: {tok}", f"my key is {tok}"])


def private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    return (
        f"-----BEGIN {kind}PRIVATE KEY-----\n{_pem_body(rng, rng.randint(4, 12))}\n"
        f"-----END {kind}PRIVATE KEY-----"
    )


def database_url(rng: random.Random) -> str:
    scheme = rng.choice(["postgresql", "mysql", "mongodb+srv", "redis"])
    user = rng.choice(["app", "admin", "etl", "svc_ehr"])
    pw = _r(rng, _ALNUM, rng.randint(10, 24))
    host = rng.choice(["db.internal", "10.0.3.12", "cluster0.ab12c.mongodb.net"])
    url = f"{scheme}://{user}:{pw}@{host}:5432/clinic"
    return rng.choice([f"DATABASE_URL={url}", f"engine = create_engine('{url}')", f"dsn {url}"])


def jwt(rng: random.Random) -> str:
    head = _b64url({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"})
    body = _b64url(
        {"sub": _r(rng, string.digits, 8), "iat": rng.randint(1_600_000_000, 1_800_000_000)}
    )
    tok = f"{head}.{body}.{_r(rng, _URLSAFE, 43)}"
    return rng.choice([f"Authorization: Bearer {tok}", f"jwt={tok}", f"session token {tok}"])


def password_assignment(rng: random.Random) -> str:
    value = _r(rng, _ALNUM + "!#%&*", rng.randint(12, 24))
    return rng.choice(
        [
            f'password = "{value}"',
            f"DB_PASSWORD={value}",
            f"api_key: {value}",
            f'"client_secret": "{value}"',
        ]
    )


SECRET_KINDS: dict[str, Callable[[random.Random], str]] = {
    "AWS_ACCESS_KEY": aws_access_key,
    "AWS_SECRET_KEY": aws_secret_key,
    "GCP_SERVICE_ACCOUNT": gcp_service_account,
    "AZURE_STORAGE": azure_storage,
    "GITHUB_TOKEN": github_token,
    "GITLAB_TOKEN": gitlab_token,
    "SLACK_TOKEN": slack_token,
    "STRIPE_KEY": stripe_key,
    "OPENAI_API_KEY": openai_key,
    "ANTHROPIC_API_KEY": anthropic_key,
    "PRIVATE_KEY": private_key,
    "DATABASE_URL": database_url,
    "JWT": jwt,
    "PASSWORD_ASSIGNMENT": password_assignment,
}


def _uuid(rng: random.Random) -> str:
    h = _r(rng, _HEX, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


NEGATIVE_KINDS: dict[str, Callable[[random.Random], str]] = {
    "git_sha": lambda r: rng_choice(
        r, [f"commit {_r(r, _HEX, 40)}", f"fixed in {_r(r, _HEX, 40)} (merge)"]
    ),
    "uuid": lambda r: rng_choice(r, [f"request_id={_uuid(r)}", f"order {_uuid(r)} shipped"]),
    "sha256": lambda r: rng_choice(
        r, [f"sha256:{_r(r, _HEX, 64)}", f"checksum = {_r(r, _HEX, 64)}"]
    ),
    "base64_image": lambda r: (
        '<img src="data:image/png;base64,'
        + base64.b64encode(bytes(r.getrandbits(8) for _ in range(240))).decode()
        + '">'
    ),
    "doc_placeholder": lambda r: rng_choice(
        r,
        [
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "OPENAI_API_KEY=<your-api-key>",
            'password = "changeme"',
            "GITHUB_TOKEN=${GITHUB_TOKEN}",
            "api_key: YOUR_API_KEY_HERE",
        ],
    ),
    "clinical_ids": lambda r: (
        f"MRN {r.randint(1000000, 9999999)}, admitted {r.randint(1, 12)}/{r.randint(1, 28)}/2024,"
        f" acct {r.randint(10**9, 10**10 - 1)}, NPI {r.randint(10**9, 10**10 - 1)}"
    ),
    "url_no_credentials": lambda r: rng_choice(
        r,
        [
            f"https://portal.example-health.org/patients/{r.randint(1000, 99999)}?tab=labs",
            "postgresql://db.internal:5432/clinic",
            f"https://github.com/acme/ehr/pull/{r.randint(10, 999)}",
        ],
    ),
    "password_prose": lambda r: rng_choice(
        r,
        [
            "password: see the team wiki",
            "Reset your password from the login page.",
            "the token expired yesterday, ask IT for a new one",
        ],
    ),
}


def rng_choice(rng: random.Random, items: list[str]) -> str:
    return rng.choice(items)


_FILLER = [
    "Patient seen in clinic today for follow-up of type 2 diabetes; A1c 7.2%.",
    "Deploy the service after the migration finishes and check the dashboards.",
    "Can you help me figure out why this job keeps failing on the staging cluster?",
    "Plan: continue metformin 1000 mg BID, recheck lipids in three months.",
    "2024-05-03T10:22:31Z INFO worker-3 processed 128 messages in 41 ms",
    "The nightly export writes a CSV per ward into the shared bucket.",
]


def _carrier(rng: random.Random, snippet: str) -> tuple[str, str]:
    kind = rng.choice(["code", "config", "log", "chat", "clinical"])
    pad = " ".join(rng.sample(_FILLER, 3))
    if kind == "code":
        body = (
            f'"""Sync job for the clinic export."""\nimport os\n\n# {pad}\n'
            f"SETTINGS = '''\n{snippet}\n'''\n\ndef run():\n    return connect(SETTINGS)\n"
        )
    elif kind == "config":
        body = (
            f"# service config\nlog_level: info\nregion: us-east-1\n{snippet}\n"
            f"retries: 3\n# {pad}\n"
        )
    elif kind == "log":
        body = (
            f"2024-05-03T10:22:30Z INFO starting worker\n2024-05-03T10:22:31Z DEBUG env {snippet}\n"
            f"2024-05-03T10:22:32Z WARN {pad}\n"
        )
    elif kind == "chat":
        body = f"{pad}\nHere is what I have in my setup:\n\n{snippet}\n\nWhat am I doing wrong?"
    else:
        body = (
            f"Clinical note. {pad}\nNursing informatics ticket attached by the ward clerk:\n"
            f"{snippet}\nPatient tolerated the procedure well. Follow up in 2 weeks."
        )
    return kind, body


def corpus(seed: int = 7, per_kind: int = 40) -> list[dict[str, object]]:
    """Rows ``{"text", "label": 0|1, "kind", "carrier"}``; ``kind``: secret or negative type."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for kind, make in SECRET_KINDS.items():
        for _ in range(per_kind):
            carrier, text = _carrier(rng, make(rng))
            rows.append({"text": text, "label": 1, "kind": kind, "carrier": carrier})
    for kind, make in NEGATIVE_KINDS.items():
        for _ in range(per_kind):
            carrier, text = _carrier(rng, make(rng))
            rows.append({"text": text, "label": 0, "kind": kind, "carrier": carrier})
    return rows
