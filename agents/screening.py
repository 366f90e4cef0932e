"""Text in a request that must never become intent: code, and instructions addressed to Gantry itself.

Both parsers screen the request with ``screen(text)`` and pass their intent through
``enforce(intent, screening)``, so the offline and the LLM path flag and strip the same things:

* **embedded code** (``Flag.EMBEDDED_CODE``): HCL blocks and interpolations, JSON documents (IAM
  policies), and shell constructs (``$(``, backticks around a command, ``&&``, ``||``, redirection,
  pipes and ``;`` inside a run-command's text). Nothing inside a code span becomes a name, target,
  filter, tag or command; the offline parser blanks the spans before reading, and ``enforce`` drops
  any value the LLM took from one.
* **instructions to the system** (``Flag.INSTRUCTION``): "ignore previous instructions", "you are
  now ...", "approve run 5", "skip the approval". Approvals and rules are not requested in free text,
  so the whole request loses its targets and parameters; the agent shows the refusal question.

Which commands operators may run is decided by the ops catalogue, not here: a plain command is carried
as written, and one with shell metacharacters is flagged (``command_findings``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.intent import Ambiguity, Flag, Intent

__all__ = [
    "HCL_PATTERNS",
    "Screening",
    "code_spans",
    "command_findings",
    "enforce",
    "hcl_findings",
    "instruction_spans",
    "screen",
]

# Terraform/HCL-looking content that never belongs in an intent field.
HCL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        ('provider "', r'\bprovider\s*"'),
        ('module "', r'\bmodule\s*"'),
        ('resource "', r'\bresource\s*"[a-z]'),
        ('data "', r'\bdata\s*"[a-z]'),
        ("source =", r"\bsource\s*="),
        ("provisioner", r"\bprovisioner"),
        ("${", r"\$\{"),
        ("terraform {", r"\bterraform\s*\{"),
        ("backend", r'\bbackend\s*"'),
        ("git::", r"\bgit::"),
        ("local-exec", r"\blocal-exec\b"),
    )
)

# Spans of code in a request. An HCL block runs from its keyword to its last closing brace; a JSON
# document from its first "{" + quoted key to its last "}".
_CODE_RES: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"\b(?:resource|data|module|provider|variable|output|locals|terraform|provisioner)\b"
        r'(?:\s*"[^"\n]{0,128}"){0,2}\s*\{.*\}',
        re.DOTALL,
    ),
    re.compile(r'\{\s*"[^"\n]{1,128}"\s*:.*\}', re.DOTALL),
    re.compile(r"\$\{[^}]{0,500}\}?"),
    re.compile(r"\$\([^)]{0,500}\)?"),
    re.compile(r"`[^`]*\s[^`]*`"),  # a backticked command; a backticked single word is just quoting
    re.compile(r"\S*(?:&&|\|\|)[^\n]*"),  # a shell chain: everything after it is the chained command
    re.compile(r"\S*(?:>>|<<)\s*\S*"),
)
# Shell metacharacters that make a run-command more than one plain command.
_SHELL_META_RE = re.compile(r"[|;&`<>]|\$\(|\$\{|\\")

_INSTRUCTION_RES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\b(?:ignore|disregard|forget|override)\b[^.;!?\n]{0,40}"
        r"\b(?:instructions?|rules|prompts?|guardrails?|directions)\b",
        r"\byou\s+are\s+(?:now|no\s+longer)\b",
        r"\b(?:act|behave)\s+as\s+(?:an?\s+)?(?:admin|administrator|approver|root|system|developer)\b",
        r"\bpretend\s+(?:to\s+be|you\s+are)\b",
        r"\b(?:system|developer)\s+(?:prompt|message|instructions?)\b",
        r"\breveal\b[^.;!?\n]{0,30}\b(?:prompt|instructions?|rules)\b",
        r"\b(?:auto|self)[\s-]?approve",
        r"\bapprove\b[^.;!?\n]{0,20}\b(?:runs?|plans?|changes?|requests?)\b(?:\s*#?\d+)?",
        r"\b(?:apply|execute)\s+run\s+#?\d+",
        r"\bmark\b[^.;!?\n]{0,40}\bas\s+approved\b",
        r"\b(?:skip|bypass|disable|circumvent|without)\b[^.;!?\n]{0,20}"
        r"\b(?:approvals?|review|reviews|gates?|policy\s+checks?|guardrails?)\b",
    )
)

CODE_QUESTION = (
    "This request contains code, which Gantry never takes from a request. Could you describe the "
    "change in plain words (for a command, name it without pipes, ';', '&&' or substitutions)?"
)
INSTRUCTION_QUESTION = (
    "This request contains instructions to Gantry itself (such as approving a run or changing its "
    "rules), which it does not take from a request; approvals happen on the run page. What change "
    "do you want, in plain words?"
)


@dataclass(frozen=True)
class Screening:
    flags: tuple[Flag, ...] = ()
    code: tuple[str, ...] = ()  # the code spans as written


def _strings(value: object, path: str):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}" if path else str(key), str(key)
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def hcl_findings(payload: object) -> list[str]:
    """``path: pattern`` for every string (keys included) that looks like Terraform/HCL."""
    found = []
    for path, text in _strings(payload, ""):
        for label, pattern in HCL_PATTERNS:
            if pattern.search(text):
                found.append(f"{path or '(value)'}: {label}")
                break
    return found


def code_spans(text: str) -> list[tuple[int, int]]:
    """Sorted, merged ``(start, end)`` spans of ``text`` that carry code."""
    spans = sorted((match.start(), match.end()) for pattern in _CODE_RES for match in pattern.finditer(text))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def instruction_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` spans of ``text`` that address the system rather than ask for a change."""
    return sorted((m.start(), m.end()) for pattern in _INSTRUCTION_RES for m in pattern.finditer(text))


def command_findings(command: str) -> list[str]:
    """The shell metacharacters in a run-command's text (empty: one plain command)."""
    return sorted({match.group(0) for match in _SHELL_META_RE.finditer(command)})


def screen(text: str) -> Screening:
    flags: list[Flag] = []
    spans = code_spans(text)
    if spans or hcl_findings(text):
        flags.append(Flag.EMBEDDED_CODE)
    if instruction_spans(text):
        flags.append(Flag.INSTRUCTION)
    return Screening(flags=tuple(flags), code=tuple(text[start:end] for start, end in spans))


def _in_code(value: str, code: tuple[str, ...]) -> bool:
    return any(value and value in span for span in code)


def enforce(intent: Intent, screening: Screening) -> Intent:
    """``intent`` with the screening's flags, its refusal question, and nothing taken from code or
    from a request that carries instructions. Idempotent."""
    command = intent.params.command
    shell = (Flag.EMBEDDED_CODE,) if command is not None and command_findings(command) else ()
    flags = [flag for flag in Flag if flag in (*screening.flags, *shell, *intent.flags)]
    if not flags:
        return intent
    update: dict[str, object] = {"flags": flags}
    params = intent.params
    if Flag.INSTRUCTION in flags:
        update["resources"] = []
        update["filters"] = {}
        update["tags"] = {}
        params = params.model_copy(update={"command": None, "tag_keys": []})
        question = INSTRUCTION_QUESTION
    else:
        code = screening.code
        update["resources"] = [
            r.model_copy(
                update={
                    "names": [n for n in r.names if not _in_code(n, code)],
                    "attributes": {k: v for k, v in r.attributes.items() if not _in_code(v, code)},
                }
            )
            for r in intent.resources
        ]
        update["filters"] = {
            k: v for k, v in intent.filters.items() if not (_in_code(k, code) or _in_code(v, code))
        }
        update["tags"] = {
            k: v for k, v in intent.tags.items() if not (_in_code(k, code) or _in_code(v, code))
        }
        if params.command is not None and (
            command_findings(params.command) or _in_code(params.command, code)
        ):
            params = params.model_copy(update={"command": None})
        question = CODE_QUESTION
    update["params"] = params
    ambiguities = [a for a in intent.ambiguities if a.field != "request"]
    update["ambiguities"] = [Ambiguity(field="request", question=question), *ambiguities]
    update["confidence"] = min(intent.confidence, 0.3)
    return Intent.model_validate(intent.model_copy(update=update).model_dump())
