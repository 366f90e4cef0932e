"""Secret redaction for Terraform logs, plan renderings and JSON (invariant 9).

Pattern-based masking catches what we can recognise (AWS key ids, secret keys, session tokens, passwords,
private keys, values of attributes known to be sensitive); exact values registered at runtime (the
credentials a run was given, generated passwords) catch what no pattern can, including values the provider
does not mark sensitive.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***REDACTED***"

ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

# Attributes whose values are secrets whatever the provider says about them.
SENSITIVE_ATTRIBUTES = (
    "password",
    "passwd",
    "master_password",
    "master_user_password",
    "admin_password",
    "db_password",
    "secret",
    "secret_string",
    "secret_binary",
    "secret_key",
    "secret_access_key",
    "aws_secret_access_key",
    "access_key",
    "session_token",
    "aws_session_token",
    "token",
    "auth_token",
    "api_key",
    "client_secret",
    "private_key",
    "private_key_pem",
    "private_key_openssh",
    "ses_smtp_password_v4",
    "key_material",
    "kubeconfig",
)
_ATTR_ALT = "|".join(sorted(SENSITIVE_ATTRIBUTES, key=len, reverse=True))
# A JSON key naming a secret: a sensitive attribute, alone or as the last word (`api_token`, `DB_PASSWORD`).
_SENSITIVE_KEY_RE = re.compile(rf"(?:^|[_-])(?:{_ATTR_ALT})$", re.IGNORECASE)
# Every sensitive attribute name contains one of these; text (casefolded, as (?i) matching is) with none
# of them cannot match the attribute patterns, which are the slow ones, so they are skipped.
_ATTR_HINTS = ("password", "passwd", "secret", "token", "access_key", "api_key", "private_key",
               "key_material", "kubeconfig")  # fmt: skip
assert all(any(hint in name for hint in _ATTR_HINTS) for name in SENSITIVE_ATTRIBUTES)

# Each pattern with the literals one of which any match contains, looked for in the text (case-sensitive
# patterns) or in its casefolded copy (case-insensitive ones): a substring search is far cheaper than a
# regex pass, and most text (audit summaries, log lines) holds none of them, so most passes are skipped.
_ATTRIBUTE = ("folded", _ATTR_HINTS)
_PATTERNS: list[tuple[re.Pattern[str], str, tuple[str, tuple[str, ...]]]] = [
    # AWS access key ids (long-term AKIA, temporary ASIA, and the rarer prefixes).
    (
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
        MASK,
        ("text", ("AKIA", "ASIA", "ABIA", "ACCA")),
    ),
    # Plan diffs: `attr = "old" -> "new"` (the old value is masked by the next pattern).
    (
        re.compile(
            rf"""(?i)(\b(?:{_ATTR_ALT})\b\s*=\s*(?:"(?:[^"\\\n]|\\.)*"|\S+)\s*->\s*)"(?:[^"\\\n]|\\.)+\""""
        ),
        rf'\1"{MASK}"',
        _ATTRIBUTE,
    ),
    # `attr = "value"` / `"attr": "value"` / `attr: value` for sensitive attribute names.
    (
        re.compile(
            rf"""(?i)(["']?\b(?:{_ATTR_ALT})\b["']?\s*(?:=|:|=>)\s*)"(?!\(sensitive)([^"\\\n]|\\.)+\"""",
        ),
        rf'\1"{MASK}"',
        _ATTRIBUTE,
    ),
    (
        re.compile(rf"""(?i)(\b(?:{_ATTR_ALT})\b\s*[=:]\s*)(?!["'(\s])([^\s,;"'&]{{4,}})"""),
        rf"\1{MASK}",
        _ATTRIBUTE,
    ),
    # Credentials in a URL's user info, `scheme://user:password@host` (connection strings, git remotes).
    (
        re.compile(r"""(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@"']*:)[^\s/@"']+@"""),
        rf"\1{MASK}@",
        ("text", ("://",)),
    ),
    # STS session tokens by their well-known prefixes, wherever they appear.
    (
        re.compile(r"(?:FwoGZXIvYXdz|IQoJb3JpZ2lu|FQoGZXIvYXdz)[A-Za-z0-9/+=]{20,}"),
        MASK,
        ("text", ("FwoGZXIvYXdz", "IQoJb3JpZ2lu", "FQoGZXIvYXdz")),
    ),
    # Presigned URLs and request headers.
    (
        re.compile(r"(?i)(X-Amz-Security-Token[=:]\s*)[^\s&\"']+"),
        rf"\1{MASK}",
        ("folded", ("x-amz-security-token",)),
    ),
    (re.compile(r"(?i)(X-Amz-Signature[=:]\s*)[0-9a-f]+"), rf"\1{MASK}", ("folded", ("x-amz-signature",))),
    # Single-line PEM private keys (e.g. inside JSON strings with literal \n).
    (
        re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S),
        f"-----BEGIN PRIVATE KEY-----{MASK}-----END PRIVATE KEY-----",
        ("text", ("PRIVATE KEY-----",)),
    ),
]

# A bare 40-character secret access key: mixed case and digits, no hex-only strings (git/sha ids).
_BARE_SECRET_RE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# Its cheap precondition: a run of 40 such characters, which shows as 40 x's once each is mapped to x.
_BARE_SECRET_ALPHABET = str.maketrans(dict.fromkeys(string.ascii_letters + string.digits + "/+", "x"))
_BARE_SECRET_RUN = "x" * 40
_PEM_BEGIN_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_PEM_END_RE = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----")

# Shorter values would mask ordinary words in logs.
MIN_REGISTERED_LENGTH = 4


# What case-insensitive matching equates with an ASCII letter but casefolding does not turn into one:
# dotless ı matches i, and İ folds to i plus a combining dot.
_FOLD_FIXES = str.maketrans({"\u0131": "i", "\u0307": None})


def _folded(text: str) -> str:
    """The text casefolded so that every `(?i)` match of an ASCII word shows that word as a substring."""
    folded = text.casefold()
    return folded if folded.isascii() else folded.translate(_FOLD_FIXES)


def is_sensitive_key(key: str) -> bool:
    """Does this attribute or variable name say its value is a secret, whatever the provider marks?"""
    return bool(_SENSITIVE_KEY_RE.search(key))


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


def _mask_bare_secret(match: re.Match[str]) -> str:
    token = match.group(0)
    if re.fullmatch(r"[0-9a-fA-F]+", token):
        return token
    has_upper = any(c.isupper() for c in token)
    has_lower = any(c.islower() for c in token)
    has_digit = any(c.isdigit() for c in token)
    return MASK if has_upper and has_lower and has_digit else token


class Redactor:
    """Masks secrets in text; exact values can be registered at runtime (thread-safe)."""

    def __init__(self, values: Iterable[str] = (), *, parent: Redactor | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._exact_re: re.Pattern[str] | None = None
        self.register(*values)

    def register(self, *values: str | None) -> None:
        with self._lock:
            added = False
            for value in values:
                if value and len(value) >= MIN_REGISTERED_LENGTH and value not in self._values:
                    self._values.add(value)
                    added = True
            if added:
                # Longest first so a secret containing another is masked whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._exact_re = re.compile("|".join(re.escape(v) for v in ordered))

    def redact(self, text: str) -> str:
        if not text:
            return text
        redactor: Redactor | None = self
        while redactor is not None:
            if redactor._exact_re is not None:
                text = redactor._exact_re.sub(MASK, text)
            redactor = redactor._parent
        folded = _folded(text)
        for pattern, repl, (where, hints) in _PATTERNS:
            # An earlier pass only ever writes MASK, which contains no hint: the copies stay good enough.
            haystack = folded if where == "folded" else text
            if any(hint in haystack for hint in hints):
                text = pattern.sub(repl, text)
        if _BARE_SECRET_RUN in text.translate(_BARE_SECRET_ALPHABET):
            text = _BARE_SECRET_RE.sub(_mask_bare_secret, text)
        if "PRIVATE KEY-----" in text and _PEM_BEGIN_RE.search(text) and not _PEM_END_RE.search(text):
            # A key split across lines: redact from the marker on; the stream redactor handles the rest.
            text = text[: _PEM_BEGIN_RE.search(text).start()] + f"-----BEGIN PRIVATE KEY-----{MASK}"
        return text

    def redact_json(self, value: Any) -> Any:
        """A copy of a JSON-like value with sensitive keys masked and every string redacted."""
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if isinstance(key, str) and is_sensitive_key(key) and item not in (None, ""):
                    out[key] = MASK if not isinstance(item, dict | list) else self._mask_all(item)
                else:
                    out[key] = self.redact_json(item)
            return out
        if isinstance(value, list):
            return [self.redact_json(item) for item in value]
        if isinstance(value, str):
            return self.redact(value)
        return value

    def _mask_all(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._mask_all(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask_all(v) for v in value]
        return MASK if value not in (None, "") else value

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


class StreamRedactor:
    """Line-by-line redaction that also masks multi-line PEM private keys."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._in_key = False

    def __call__(self, line: str) -> str:
        line = strip_ansi(line)
        if self._in_key:
            if _PEM_END_RE.search(line):
                self._in_key = False
                return _PEM_END_RE.sub("-----END PRIVATE KEY-----", line[_PEM_END_RE.search(line).start() :])
            return MASK
        begin = _PEM_BEGIN_RE.search(line)
        if begin and not _PEM_END_RE.search(line, begin.end()):
            self._in_key = True
            return self._redactor.redact(line[: begin.start()]) + f"-----BEGIN PRIVATE KEY-----{MASK}"
        return self._redactor.redact(line)


# Process-wide values (e.g. the platform's own credentials); runs add their own through a child Redactor.
default_redactor = Redactor()


def run_redactor(*values: str | None) -> Redactor:
    """A per-run redactor that also masks the process-wide registered values."""
    redactor = Redactor(parent=default_redactor)
    redactor.register(*values)
    return redactor


def register_secret(*values: str | None) -> None:
    default_redactor.register(*values)


def redact(text: str) -> str:
    return default_redactor.redact(text)
