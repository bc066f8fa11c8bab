"""Secrets detector: provider tokens, private keys, connection strings, JWTs,
and high-entropy values assigned to secret-sounding names.

Provider patterns have fixed prefixes and lengths, so they score high on their
own; a generic ``password = ...`` / ``api_key: ...`` assignment is only reported
when the value looks random (Shannon entropy per character and length), which
keeps prose such as ``password: see the wiki`` quiet. Compiled once, lazily.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass

from vallum.detect.types import DetectorConfig, Finding, Verdict

__all__ = ["SECRET_TYPES", "SecretsDetector", "shannon_entropy"]


@dataclass(frozen=True, slots=True)
class _Rule:
    type: str
    pattern: str
    score: float
    group: int = 0
    min_entropy: float = 0.0
    needs: tuple[str, ...] = ()
    """The rule runs only if the text holds one of these strings (a cheap prefilter)."""
    folded: bool = False
    """``needs`` are matched against the lower-cased text."""


_RULES: tuple[_Rule, ...] = (
    _Rule(
        "PRIVATE_KEY",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]{0,10000}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?",
        0.99,
        needs=("PRIVATE KEY",),
    ),
    _Rule(
        "AWS_ACCESS_KEY",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z2-7]{16}\b",
        0.95,
        needs=("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA"),
    ),
    _Rule(
        "AWS_SECRET_KEY",
        r"(?i:aws.{0,20}?(?:secret|private).{0,20}?)[=:\"'\s]+\"?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        0.9,
        1,
        4.0,
        needs=("aws",),
        folded=True,
    ),
    _Rule("GCP_API_KEY", r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])", 0.95, needs=("AIza",)),
    _Rule(
        "GCP_SERVICE_ACCOUNT",
        r"\"type\"\s*:\s*\"service_account\"",
        0.9,
        needs=("service_account",),
    ),
    _Rule("GCP_OAUTH_SECRET", r"\bGOCSPX-[0-9A-Za-z_\-]{28}\b", 0.95, needs=("GOCSPX-",)),
    _Rule(
        "AZURE_STORAGE_KEY",
        r"(?i:AccountKey)=([A-Za-z0-9+/]{86}==)",
        0.95,
        1,
        needs=("accountkey=",),
        folded=True,
    ),
    _Rule(
        "AZURE_CONNECTION_STRING",
        r"(?i:(?:DefaultEndpointsProtocol|Endpoint)=[^;\s]+;[^\s\"']*?(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/=]{20,})",
        0.95,
        needs=("accountkey=", "sharedaccesskey="),
        folded=True,
    ),
    _Rule("AZURE_SAS_TOKEN", r"[?&]sig=[A-Za-z0-9%+/]{40,}(?:%3D|=){0,2}", 0.85, needs=("sig=",)),
    _Rule(
        "GITHUB_TOKEN",
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b",
        0.98,
        needs=("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    _Rule("GITHUB_TOKEN", r"\bgithub_pat_[A-Za-z0-9_]{82}\b", 0.98, needs=("github_pat_",)),
    _Rule(
        "GITLAB_TOKEN",
        r"\bgl(?:pat|dt|ptt|rt|soat|cbt|imt|ft)-[A-Za-z0-9_\-]{20,}\b",
        0.97,
        needs=("glpat-", "gldt-", "glptt-", "glrt-", "glsoat-", "glcbt-", "glimt-", "glft-"),
    ),
    _Rule(
        "SLACK_TOKEN",
        r"\bxox[abposr]-(?:[0-9A-Za-z]+-){1,4}[0-9A-Za-z]{6,}\b",
        0.97,
        needs=("xox",),
    ),
    _Rule(
        "SLACK_WEBHOOK",
        r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/]{20,}",
        0.95,
        needs=("hooks.slack.com",),
    ),
    _Rule(
        "STRIPE_KEY",
        r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,247}\b",
        0.97,
        needs=("_live_", "_test_"),
    ),
    _Rule("STRIPE_KEY", r"\bwhsec_[0-9A-Za-z]{24,}\b", 0.95, needs=("whsec_",)),
    _Rule(
        "ANTHROPIC_API_KEY",
        r"\bsk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{80,120}\b",
        0.99,
        needs=("sk-ant-",),
    ),
    _Rule(
        "OPENAI_API_KEY",
        r"\bsk-(?:proj-|svcacct-|admin-|None-)?(?!ant-)[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}\b",
        0.99,
        needs=("sk-",),
    ),
    _Rule(
        "OPENAI_API_KEY",
        r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,200}\b",
        0.95,
        needs=("sk-",),
    ),
    _Rule("OPENAI_API_KEY", r"\bsk-[A-Za-z0-9]{48}\b", 0.9, needs=("sk-",)),
    _Rule("HUGGINGFACE_TOKEN", r"\bhf_[A-Za-z0-9]{34,40}\b", 0.95, needs=("hf_",)),
    _Rule("NPM_TOKEN", r"\bnpm_[A-Za-z0-9]{36}\b", 0.95, needs=("npm_",)),
    _Rule("PYPI_TOKEN", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}\b", 0.98, needs=("pypi-",)),
    _Rule("TWILIO_KEY", r"\bSK[0-9a-f]{32}\b", 0.8, needs=("SK",)),
    _Rule("SENDGRID_KEY", r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b", 0.97, needs=("SG.",)),
    _Rule(
        "JWT",
        r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{0,}",
        0.9,
        needs=("eyJ",),
    ),
    _Rule(
        "CONNECTION_STRING",
        r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|"
        r"sqlserver|oracle|ftp|sftp|smtp|ldap|https?)://[^\s:/@\"']+:([^\s@/\"']{3,})@[^\s\"']+",
        0.92,
        needs=("://",),
    ),
    _Rule(
        "CONNECTION_STRING",
        r"(?i:(?:Server|Data Source|Host)=[^;\n]+;[^\n\"']*?(?:Password|Pwd)=)([^;\s\"']{3,})",
        0.9,
        needs=("password=", "pwd="),
        folded=True,
    ),
)

_ASSIGN = re.compile(
    r"(?i)(?<![A-Za-z0-9])([A-Za-z0-9_.\-]*(?:password|passwd|pwd|passphrase|secret|api[_\-]?key|"
    r"apikey|access[_\-]?key|auth[_\-]?token|access[_\-]?token|refresh[_\-]?token|token|"
    r"client[_\-]?secret|private[_\-]?key|credentials?)[A-Za-z0-9_.\-]*)[\"']?\s*"
    r"(?::=|=>|=|:)\s*(?:[\"'`]([^\"'`\s]{6,200})[\"'`]|([^\s\"'`,;)}\]]{6,200}))"
)

_ASSIGN_WORDS = ("pass", "pwd", "secret", "key", "token", "credential")
"""One of these must be in the lower-cased text before :data:`_ASSIGN` is run."""

_PLACEHOLDER = re.compile(
    r"(?i)^(?:x+|\*+|\.+|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%\([^)]*\)s|changeme|password|"
    r"your[_\-]?\w*|example\w*|dummy\w*|test\w*|none|null|true|false|redacted|\[redacted\])$"
)

SECRET_TYPES = frozenset(r.type for r in _RULES) | {"GENERIC_SECRET"}


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value``."""
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _generic_score(value: str) -> float:
    """0 for prose-like values; up to 0.9 for long random-looking ones."""
    if _PLACEHOLDER.match(value) or value.startswith(("$", "os.environ", "process.env", "env(")):
        return 0.0
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    ent = shannon_entropy(value)
    if len(value) >= 16 and ent >= 3.5 and classes >= 2:
        return 0.9
    if len(value) >= 8 and ent >= 2.8 and classes >= 3:
        return 0.8
    if len(value) >= 6 and classes >= 2 and ent >= 2.5:
        return 0.6
    return 0.0


def _jwt_ok(token: str) -> bool:
    head = token.split(".", 1)[0]
    try:
        doc = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and ("alg" in doc or "typ" in doc)


class SecretsDetector:
    """Find secrets in text (name ``secrets``)."""

    name = "secrets"

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self._compiled: list[tuple[_Rule, re.Pattern[str]]] | None = None
        self._lock = threading.Lock()

    def _rules(self) -> list[tuple[_Rule, re.Pattern[str]]]:
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = [(r, re.compile(r.pattern)) for r in _RULES]
        return self._compiled

    def find(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        lower = text.lower()
        for rule, rx in self._rules():
            hay = lower if rule.folded else text
            if not any(n in hay for n in rule.needs):
                continue
            for m in rx.finditer(text):
                start, end = m.span(rule.group)
                value = m.group(rule.group)
                if rule.min_entropy and shannon_entropy(value) < rule.min_entropy:
                    continue
                score = rule.score
                if rule.type == "JWT" and not _jwt_ok(value):
                    score = 0.6
                found.append(Finding(rule.type, start, end, score, self.name))
        if not any(k in lower for k in _ASSIGN_WORDS):
            return _dedupe(found)
        for m in _ASSIGN.finditer(text):
            g = 2 if m.group(2) is not None else 3
            value = m.group(g)
            score = _generic_score(value)
            if score > 0:
                start, end = m.span(g)
                found.append(Finding("GENERIC_SECRET", start, end, score, self.name))
        return _dedupe(found)

    def detect(self, text: str) -> Verdict:
        findings = self.find(text)
        types = self.config.types
        if types is not None:
            findings = [f for f in findings if f.type in types]
        kept = [f for f in findings if f.score >= self.config.threshold]
        return Verdict.from_findings(self.name, kept, self.config.threshold)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Drop findings contained in a higher- or equal-scoring specific one."""
    findings.sort(key=lambda f: (f.start, -(f.end - f.start), -f.score))
    kept: list[Finding] = []
    for f in findings:
        if any(
            k.start <= f.start
            and f.end <= k.end
            and (k.score >= f.score or f.type == "GENERIC_SECRET")
            for k in kept
        ):
            continue
        kept.append(f)
    return kept
