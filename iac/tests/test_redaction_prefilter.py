"""The redactor's literal prefilters never change what it masks: a property test against running every
pattern on every text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from iac.redaction import MASK


def _redact_every_pattern(text: str) -> str:
    """The redactor without its literal prefilters: every pattern run on every text (the reference)."""
    from iac import redaction as r

    for pattern, repl, _ in r._PATTERNS:
        text = pattern.sub(repl, text)
    text = r._BARE_SECRET_RE.sub(r._mask_bare_secret, text)
    if r._PEM_BEGIN_RE.search(text) and not r._PEM_END_RE.search(text):
        text = text[: r._PEM_BEGIN_RE.search(text).start()] + f"-----BEGIN PRIVATE KEY-----{MASK}"
    return text


# Fragments that the patterns and their prefilters turn on, mixed with arbitrary text: dotless ı and the
# Kelvin sign match i and k case-insensitively without casefolding to them.
_SECRET_BITS = [
    "AKIA", "ASIA", "ACCA", "ABIA", "ABCDEFGHIJKLMNOP", "password", "PaSsWoRd", "paſſword", "prıvate_key",
    "PRİVATE_KEY", "api_Key", "token", "secret", " = ", '"', ": ", " -> ", "=", "X-Amz-Signature=",
    "x-amz-security-token:", "abc123", "FwoGZXIvYXdz", "IQoJb3JpZ2lu", "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "\n", "(sensitive)",
    "postgres://", "app:", "@db", "://u:p@",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_SECRET_BITS), st.text(max_size=12)), max_size=14))
def test_prefiltered_redaction_equals_running_every_pattern(parts):
    from iac.redaction import Redactor

    text = "".join(parts)
    assert Redactor().redact(text) == _redact_every_pattern(text)
