"""SecretsDetector: provider patterns, private keys, connection strings, JWTs, entropy."""

from __future__ import annotations

import pytest

from vallum.detect.secrets import SecretsDetector, shannon_entropy

DET = SecretsDetector()

# Assembled at run time so no scanner mistakes these fixtures for live credentials.
GH = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
ANTHROPIC = "sk-ant-api03-" + "A" * 40 + "b" * 40 + "-_xy"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+9z\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("typ", "secret"),
    [
        ("GITHUB_TOKEN", GH),
        ("AWS_ACCESS_KEY", AWS),
        ("SLACK_TOKEN", SLACK),
        ("STRIPE_KEY", STRIPE),
        ("ANTHROPIC_API_KEY", ANTHROPIC),
        ("JWT", JWT),
        ("PRIVATE_KEY", PEM),
        ("GCP_API_KEY", "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    ],
)
def test_provider_secrets(typ: str, secret: str) -> None:
    text = f"config:\n  value = {secret}\n"
    got = {(f.type, text[f.start : f.end]) for f in DET.detect(text).findings}
    assert (typ, secret) in got


def test_connection_string_password() -> None:
    text = "DATABASE_URL=postgresql://app:S3cr3t-Pa55w0rd@db.internal:5432/prod"
    types = {f.type for f in DET.detect(text).findings}
    assert "CONNECTION_STRING" in types


def test_generic_assignment_needs_entropy() -> None:
    hit = DET.detect('api_key = "q8Z3xv7LmN2pR9tY4wK6"')
    assert [f.type for f in hit.findings] == ["GENERIC_SECRET"]
    for quiet in ("password: see the wiki", "password = changeme", "api_key = os.environ['KEY']"):
        assert DET.detect(quiet).findings == (), quiet


def test_prose_is_clean() -> None:
    assert not DET.detect("The token of appreciation was a key to the city.").flagged


def test_entropy() -> None:
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == 2.0


@pytest.mark.parametrize(
    ("typ", "text"),
    [
        # Case-insensitive rules must survive the lower-cased prefilter.
        ("AZURE_STORAGE_KEY", "ACCOUNTKEY=" + "A" * 43 + "b" * 43 + "=="),
        ("AWS_SECRET_KEY", "AWS_Secret_Access_Key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("CONNECTION_STRING", "Server=db;Database=x;PWD=" + "Xy7-q9Lm2"),
        ("GENERIC_SECRET", 'CLIENT_SECRET: "' + "Zq8vX3LmN2pR9tY4wK6u" + '"'),
    ],
)
def test_prefilter_keeps_case_insensitive_rules(typ: str, text: str) -> None:
    assert typ in {f.type for f in DET.detect(text).findings}


def test_clean_clinical_text_runs_no_rule() -> None:
    # No provider prefix or key-ish word: every rule is skipped by the prefilter, so the
    # result is empty even for text full of colons, equals signs and long words.
    text = "BP 120/80, HR 72; plan = continue metoprolol. Follow-up: 2 weeks. " * 20
    assert DET.find(text) == []
