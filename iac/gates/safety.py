"""The safety gate: reads the raw Terraform of a work dir (root and every nested module) BEFORE init.

`terraform init` and `plan` already run provider code and data sources, so anything that executes
commands, reads files, phones home, or swaps credentials must be stopped here (DESIGN.md invariant 6).

Three independent layers, so one parser's blind spot is not a hole:
1. our own HCL lexer/parser (strings, `${}` interpolations, heredocs, comments) gives blocks, attributes and
   file:line addresses; every check works on it, including code inside interpolations and heredocs;
2. python-hcl2, where it parses, is walked for the same block types;
3. a plain text scan of the raw files catches provisioners, external data sources, backends and AWS key ids
   even where both parsers disagree with Terraform.
Anything we cannot parse fails closed.

Generated files the renderer writes itself (e.g. `backend.tf` with the s3 backend, `provider.tf` with
assume_role and sandbox endpoints) are trusted only when listed in `trusted_files` with the sha256 of the
content the renderer wrote; anything else carrying a backend or a provider credential override is blocked.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from iac.gates.base import Finding, GateResult, Severity, Status, timed

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_MODULE_DEPTH = 16

FILE_FUNCTIONS = frozenset(
    {
        "file",
        "fileexists",
        "fileset",
        "filebase64",
        "filebase64sha256",
        "filebase64sha512",
        "filemd5",
        "filesha1",
        "filesha256",
        "filesha512",
        "templatefile",
    }
)
PROVISIONER_TYPES = ("local-exec", "remote-exec", "file")
STATIC_CREDENTIAL_ATTRS = frozenset({"access_key", "secret_key", "token"})
CREDENTIAL_OVERRIDE_ATTRS = frozenset(
    {"profile", "shared_credentials_files", "shared_credentials_file", "shared_config_files"}
)
ASSUME_ROLE_BLOCKS = frozenset({"assume_role", "assume_role_with_web_identity"})
# Redirecting API traffic leaks session tokens and request signatures to whoever listens.
ENDPOINT_OVERRIDE_ATTRS = frozenset(
    {
        "endpoints",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "custom_ca_bundle",
        "insecure",
        "ec2_metadata_service_endpoint",
        "ec2_metadata_service_endpoint_mode",
        "sts_region",
    }
)
TRUSTED_BACKEND_TYPES = frozenset({"s3"})
BUILTIN_PROVIDER = "terraform.io/builtin/terraform"
DEFAULT_REGISTRY = "registry.terraform.io/"

AWS_KEY_ID_RE = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_RAW_PROVISIONER_RE = re.compile(r"\bprovisioner\s*\"?\s*(local-exec|remote-exec|file)\b")
_RAW_DATA_RE = re.compile(r"\bdata\s*\"?\s*(external|http|terraform_remote_state)\b\s*\"?")
_RAW_BACKEND_RE = re.compile(r"(?m)^\s*(backend\s*\"[^\"\n]*\"|cloud)\s*\{")
_FILE_CALL_RE = re.compile(r"(?<![\w.:-])(" + "|".join(sorted(FILE_FUNCTIONS)) + r")\s*\(")
_HEREDOC_RE = re.compile(r"<<(-?)([A-Za-z_][\w-]*)[ \t]*\r?\n")
_IDENT_RE = re.compile(r"[A-Za-z_][\w-]*")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_OPERATORS = ("...", "==", "!=", "<=", ">=", "=>", "&&", "||", "::")


# --- lexer ---------------------------------------------------------------------------------------------
@dataclass
class Tok:
    kind: str  # IDENT NUMBER STR PUNCT OP NL
    value: str
    start: int
    end: int
    # STR only: template parts, ("lit", text) or ("interp", tokens); literal is set when there are none
    parts: list[tuple[str, Any]] = field(default_factory=list)
    literal: str | None = None


class HclSyntaxError(ValueError):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


class _Lexer:
    """Tokenises native HCL; also produces a `code` view where comments and literal string characters
    are blanked (newlines kept) so regexes only see code, including code inside interpolations."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.code = list(text)

    def _blank(self, start: int, end: int) -> None:
        for k in range(start, min(end, self.n)):
            if self.code[k] != "\n":
                self.code[k] = " "

    def tokens(self) -> list[Tok]:
        out: list[Tok] = []
        self._lex_code(0, out, until_close=False)
        return out

    def _lex_code(self, i: int, out: list[Tok], *, until_close: bool) -> int:
        text, n = self.text, self.n
        depth = 0
        while i < n:
            c = text[i]
            if c == "\n":
                out.append(Tok("NL", "\n", i, i + 1))
                i += 1
            elif c in " \t\r\ufeff":
                i += 1
            elif c == "#" or text.startswith("//", i):
                j = text.find("\n", i)
                j = n if j < 0 else j
                self._blank(i, j)
                i = j
            elif text.startswith("/*", i):
                j = text.find("*/", i + 2)
                if j < 0:
                    raise HclSyntaxError("unterminated /* comment", i)
                self._blank(i, j + 2)
                i = j + 2
            elif c == '"':
                i = self._lex_string(i, out)
            elif text.startswith("<<", i) and (m := _HEREDOC_RE.match(text, i)):
                i = self._lex_heredoc(i, m, out)
            elif c in "{[(":
                depth += 1
                out.append(Tok("PUNCT", c, i, i + 1))
                i += 1
            elif c in "}])":
                if c == "}" and until_close and depth == 0:
                    return i + 1
                depth -= 1
                out.append(Tok("PUNCT", c, i, i + 1))
                i += 1
            elif m := _IDENT_RE.match(text, i):
                out.append(Tok("IDENT", m.group(), i, m.end()))
                i = m.end()
            elif m := _NUMBER_RE.match(text, i):
                out.append(Tok("NUMBER", m.group(), i, m.end()))
                i = m.end()
            else:
                op = next((o for o in _OPERATORS if text.startswith(o, i)), c)
                out.append(Tok("OP", op, i, i + len(op)))
                i += len(op)
        if until_close:
            raise HclSyntaxError("unterminated ${ interpolation", i)
        return i

    def _lex_template(self, i: int, end: int, *, quoted: bool) -> tuple[int, list[tuple[str, Any]]]:
        """Lex template content from i; a quoted template stops at `"`, a heredoc body at `end`."""
        text = self.text
        parts: list[tuple[str, Any]] = []
        buf: list[str] = []
        while i < end:
            c = text[i]
            if quoted and c == '"':
                break
            if quoted and c == "\n":
                raise HclSyntaxError("unterminated string", i)
            if quoted and c == "\\":
                buf.append(_unescape(text[i : i + 2]))
                self._blank(i, i + 2)
                i += 2
                continue
            if text.startswith(("$${", "%%{"), i):
                buf.append(text[i + 1 : i + 3])
                self._blank(i, i + 3)
                i += 3
                continue
            if text.startswith(("${", "%{"), i):
                if buf:
                    parts.append(("lit", "".join(buf)))
                    buf = []
                inner: list[Tok] = []
                i = self._lex_code(i + 2, inner, until_close=True)
                if i > end:
                    raise HclSyntaxError("interpolation runs past the end of its template", i)
                parts.append(("interp", inner))
                continue
            buf.append(c)
            self._blank(i, i + 1)
            i += 1
        if buf:
            parts.append(("lit", "".join(buf)))
        return i, parts

    def _lex_string(self, i: int, out: list[Tok]) -> int:
        j, parts = self._lex_template(i + 1, self.n, quoted=True)
        if j >= self.n:
            raise HclSyntaxError("unterminated string", i)
        out.append(_str_tok(text=self.text[i : j + 1], start=i, end=j + 1, parts=parts))
        return j + 1

    def _lex_heredoc(self, i: int, m: re.Match[str], out: list[Tok]) -> int:
        marker = m.group(2)
        body_start = m.end()
        pos = body_start
        # The first line that is the marker alone ends the heredoc (at least as early as Terraform does).
        while True:
            nl = self.text.find("\n", pos)
            line_end = self.n if nl < 0 else nl
            if self.text[pos:line_end].strip() == marker:
                break
            if nl < 0:
                raise HclSyntaxError(f"unterminated heredoc <<{marker}", i)
            pos = nl + 1
        body_end = pos
        _, parts = self._lex_template(body_start, body_end, quoted=False)
        out.append(_str_tok(text=self.text[i:line_end], start=i, end=line_end, parts=parts))
        return line_end


def _unescape(seq: str) -> str:
    return {"\\n": "\n", "\\t": "\t", "\\r": "\r", '\\"': '"', "\\\\": "\\"}.get(seq, seq[1:])


def _str_tok(*, text: str, start: int, end: int, parts: list[tuple[str, Any]]) -> Tok:
    literal = None
    if all(kind == "lit" for kind, _ in parts):
        literal = "".join(value for _, value in parts)
    return Tok("STR", text, start, end, parts=parts, literal=literal)


def template_tokens(value: str) -> Tok:
    """A JSON-syntax string is a template too: lex it as a heredoc body."""
    lexer = _Lexer(value)
    _, parts = lexer._lex_template(0, len(value), quoted=False)
    return _str_tok(text=value, start=0, end=len(value), parts=parts)


# --- parser --------------------------------------------------------------------------------------------
@dataclass
class Attr:
    name: str
    line: int
    tokens: list[Tok]
    json_value: Any = None  # .tf.json only


@dataclass
class Block:
    type: str
    labels: list[str | None]  # None: a label that is not a literal string
    line: int
    body: list[Attr | Block]

    def attrs(self) -> dict[str, Attr]:
        return {item.name: item for item in self.body if isinstance(item, Attr)}

    def blocks(self, *types: str) -> Iterator[Block]:
        for item in self.body:
            if isinstance(item, Block) and (not types or item.type in types):
                yield item


class _Parser:
    def __init__(self, toks: list[Tok], line_of: Any) -> None:
        self.toks = toks
        self.line_of = line_of

    def body(self, i: int, in_block: bool) -> tuple[list[Attr | Block], int]:
        toks = self.toks
        items: list[Attr | Block] = []
        while i < len(toks):
            tok = toks[i]
            if tok.kind == "NL":
                i += 1
                continue
            if tok.kind == "PUNCT" and tok.value == "}":
                if in_block:
                    return items, i + 1
                raise HclSyntaxError("unexpected }", tok.start)
            if tok.kind != "IDENT":
                raise HclSyntaxError(f"unexpected {tok.value!r}", tok.start)
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if nxt is not None and nxt.kind == "OP" and nxt.value == "=":
                j, depth = i + 2, 0
                while j < len(toks):
                    t = toks[j]
                    if t.kind == "PUNCT" and t.value in "{[(":
                        depth += 1
                    elif t.kind == "PUNCT" and t.value in "}])":
                        if depth == 0:
                            break
                        depth -= 1
                    elif t.kind == "NL" and depth == 0:
                        break
                    j += 1
                items.append(Attr(tok.value, self.line_of(tok.start), toks[i + 2 : j]))
                i = j
                continue
            j = i + 1
            labels: list[str | None] = []
            while j < len(toks) and toks[j].kind in ("STR", "IDENT"):
                labels.append(toks[j].literal if toks[j].kind == "STR" else toks[j].value)
                j += 1
            if j < len(toks) and toks[j].kind == "PUNCT" and toks[j].value == "{":
                inner, k = self.body(j + 1, True)
                items.append(Block(tok.value, labels, self.line_of(tok.start), inner))
                i = k
                continue
            raise HclSyntaxError(f"expected a block or an attribute after {tok.value!r}", tok.start)
        if in_block:
            raise HclSyntaxError("unterminated block", toks[-1].end if toks else 0)
        return items, i


@dataclass
class ParsedFile:
    path: Path
    text: str
    body: list[Attr | Block]
    code: str  # comments and literal string characters blanked
    token_lists: list[list[Tok]]  # the top-level tokens, then those of every interpolation (heredocs too)
    is_json: bool = False
    _newlines: list[int] = field(default_factory=list)

    def line_of(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1


def _token_lists(toks: list[Tok]) -> Iterator[list[Tok]]:
    """The list itself and, recursively, the token list of every interpolation inside its strings."""
    yield toks
    for tok in toks:
        for kind, value in tok.parts:
            if kind == "interp":
                yield from _token_lists(value)


def parse_hcl(path: Path, text: str) -> ParsedFile:
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    lexer = _Lexer(text)
    toks = lexer.tokens()
    body, _ = _Parser(toks, line_of).body(0, False)
    return ParsedFile(path, text, body, "".join(lexer.code), list(_token_lists(toks)), False, newlines)


# JSON syntax: how many labels each block type takes, and which nested keys are blocks.
_JSON_TOP_LABELS = {
    "resource": 2,
    "data": 2,
    "ephemeral": 2,
    "provider": 1,
    "module": 1,
    "variable": 1,
    "output": 1,
    "check": 1,
    "locals": 0,
    "terraform": 0,
    "moved": 0,
    "import": 0,
    "removed": 0,
}
_JSON_NESTED_LABELS = {
    "provisioner": 1,
    "backend": 1,
    "dynamic": 1,
    "data": 2,
    "cloud": 0,
    "required_providers": 0,
    "assume_role": 0,
    "assume_role_with_web_identity": 0,
    "connection": 0,
    "lifecycle": 0,
    "content": 0,
}


def parse_tf_json(path: Path, text: str) -> ParsedFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HclSyntaxError(f"invalid JSON: {exc.msg}", exc.pos) from exc
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_for(key: str) -> int:
        pos = text.find(json.dumps(key))
        return bisect.bisect_left(newlines, pos) + 1 if pos >= 0 else 0

    token_lists: list[list[Tok]] = []

    def value_tokens(value: Any) -> list[Tok]:
        found: list[Tok] = []
        if isinstance(value, str):
            found.append(template_tokens(value))
        elif isinstance(value, dict):
            for item in value.values():
                found.extend(value_tokens(item))
        elif isinstance(value, list):
            for item in value:
                found.extend(value_tokens(item))
        return found

    def bodies(value: Any) -> list[dict]:
        if isinstance(value, list):
            return [v for v in value if isinstance(v, dict)]
        return [value] if isinstance(value, dict) else []

    def blocks(block_type: str, value: Any, nlabels: int, labels: list[str | None]) -> list[Block]:
        if nlabels == 0:
            return [Block(block_type, labels, line_for(block_type), convert(b)) for b in bodies(value)]
        out: list[Block] = []
        for body in bodies(value):
            for label, inner in body.items():
                out.extend(blocks(block_type, inner, nlabels - 1, [*labels, label]))
        return out

    def convert(body: dict) -> list[Attr | Block]:
        items: list[Attr | Block] = []
        for key, value in body.items():
            if key == "//":
                continue
            if key in _JSON_NESTED_LABELS and isinstance(value, dict | list):
                items.extend(blocks(key, value, _JSON_NESTED_LABELS[key], []))
            else:
                toks = value_tokens(value)
                token_lists.extend(_token_lists(toks))
                items.append(Attr(key, line_for(key), toks, json_value=value))
        return items

    body: list[Attr | Block] = []
    for top in bodies(data):
        for key, value in top.items():
            if key == "//":
                continue
            if key not in _JSON_TOP_LABELS:
                raise HclSyntaxError(f"unknown top-level key {key!r}", text.find(json.dumps(key)))
            body.extend(blocks(key, value, _JSON_TOP_LABELS[key], []))
    return ParsedFile(path, text, body, text, token_lists, True, newlines)


# --- the gate ------------------------------------------------------------------------------------------
def file_sha256(path: str | os.PathLike[str]) -> str:
    """The digest `trusted_files` expects: sha256 of the file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def normalize_provider_source(source: str) -> str:
    source = source.strip().lower()
    if source.startswith(DEFAULT_REGISTRY):
        source = source[len(DEFAULT_REGISTRY) :]
    return source


def _setting(name: str, default: Any) -> Any:
    from iac.terraform import _setting as read

    return read(name, default)


def _within(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _attr_literal(attr: Attr) -> str | None:
    """The attribute's value when it is one literal string, else None."""
    if attr.json_value is not None:
        return attr.json_value if isinstance(attr.json_value, str) and "${" not in attr.json_value else None
    if len(attr.tokens) == 1 and attr.tokens[0].kind == "STR":
        return attr.tokens[0].literal
    return None


def _split_args(toks: list[Tok], open_index: int) -> tuple[list[list[Tok]], int]:
    """Arguments of the call whose `(` is at open_index (commas at depth 0), and the index after `)`."""
    args: list[list[Tok]] = [[]]
    depth = 0
    i = open_index + 1
    while i < len(toks):
        t = toks[i]
        if t.kind == "PUNCT" and t.value in "([{":
            depth += 1
        elif t.kind == "PUNCT" and t.value in ")]}":
            if depth == 0:
                return [a for a in args if a], i + 1
            depth -= 1
        elif t.kind == "OP" and t.value == "," and depth == 0:
            args.append([])
            i += 1
            continue
        if t.kind != "NL":
            args[-1].append(t)
        i += 1
    return [a for a in args if a], i


class _Scan:
    def __init__(
        self,
        workdir: Path,
        roots: list[Path],
        trusted_files: Mapping[str, str],
        allowed_providers: set[str],
        http_hosts: set[str],
        result: GateResult,
    ) -> None:
        self.workdir = workdir
        self.roots = roots
        self.trusted_files = {str(Path(k)): v.lower() for k, v in trusted_files.items()}
        self.allowed_providers = allowed_providers | {BUILTIN_PROVIDER}
        self.http_hosts = http_hosts
        self.result = result
        self.seen_keys: set[tuple[str, str]] = set()
        self.scanned_dirs: set[Path] = set()
        self.files_scanned: list[str] = []
        self.modules: list[str] = []
        self.trusted_used: list[str] = []
        self.hcl2_unparsed: list[str] = []
        self.trusted_paths: set[Path] = set()
        self.scanned_templates: set[Path] = set()
        self.trusted_provider_files = False
        self.untrusted_providers: list[tuple[str, Path, int]] = []
        self.pending_text: list[tuple[str, str, Path, int]] = []
        self.pending_hcl2: list[tuple[str, str, Path]] = []

    # findings ---------------------------------------------------------------------------------------
    def display(self, path: Path) -> str:
        for base in (self.workdir, *self.roots):
            if path == base or path.is_relative_to(base):
                rel = path.relative_to(base)
                prefix = "" if base == self.workdir else f"{base.parent.name}/{base.name}/"
                return f"{prefix}{rel}" if str(rel) != "." else (prefix.rstrip("/") or ".")
        return str(path)

    def add(
        self, rule: str, message: str, path: Path, line: int = 0, severity: Severity = Severity.CRITICAL
    ) -> None:
        address = self.display(path) + (f":{line}" if line else "")
        key = (rule, address)
        if key in self.seen_keys:
            return
        self.seen_keys.add(key)
        self.result.add(Finding(rule=rule, message=message, severity=severity, address=address))

    def has(self, rule: str, path: Path) -> bool:
        prefix = self.display(path)
        return any(r == rule and (a == prefix or a.startswith(prefix + ":")) for r, a in self.seen_keys)

    # file system ------------------------------------------------------------------------------------
    def walk_workdir(self) -> list[Path]:
        """Every file Terraform could load under the work dir; blocks symlink escapes and special files."""
        tf_dirs: set[Path] = set()
        for dirpath, dirnames, filenames in os.walk(self.workdir, followlinks=False):
            current = Path(dirpath)
            for name in list(dirnames):
                entry = current / name
                if name == ".terraform":
                    self.add(
                        "preseeded-terraform-dir",
                        "a .terraform directory exists before init (pre-seeded providers or modules)",
                        entry,
                    )
                    dirnames.remove(name)
                elif entry.is_symlink():
                    self.check_symlink(entry)
                    dirnames.remove(name)
            for name in filenames:
                entry = current / name
                if entry.is_symlink() and not self.check_symlink(entry):
                    continue
                try:
                    mode = entry.stat().st_mode
                except OSError:
                    continue
                if not stat.S_ISREG(mode):
                    self.add("special-file", "not a regular file (fifo, socket or device)", entry)
                    continue
                if name.endswith((".tf", ".tf.json")):
                    tf_dirs.add(current)
                elif name.endswith((".tfvars", ".tfvars.json", ".tftest.hcl")):
                    self.scan_key_ids(entry)
        return sorted(tf_dirs)

    def check_symlink(self, entry: Path) -> bool:
        try:
            target = entry.resolve(strict=True)
        except (OSError, RuntimeError):
            self.add("symlink-escape", "broken or looping symlink", entry)
            return False
        if not _within(target, [self.workdir, *self.roots]):
            self.add("symlink-escape", f"symlink points outside the work dir ({target})", entry)
            return False
        return True

    def read(self, path: Path) -> str | None:
        try:
            info = path.stat()
        except OSError as exc:
            self.add("unreadable", f"cannot read: {exc.strerror}", path)
            return None
        if not stat.S_ISREG(info.st_mode):
            self.add("special-file", "not a regular file", path)
            return None
        if info.st_size > MAX_FILE_BYTES:
            self.add("file-too-large", f"{info.st_size} bytes exceeds {MAX_FILE_BYTES}", path)
            return None
        raw = path.read_bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.add("unparseable", "not UTF-8 text", path)
            return None

    def scan_key_ids(self, path: Path) -> None:
        text = self.read(path)
        if text is None:
            return
        for m in AWS_KEY_ID_RE.finditer(text):
            self.add(
                "static-credentials", "AWS access key id in source", path, text.count("\n", 0, m.start()) + 1
            )

    # modules ----------------------------------------------------------------------------------------
    def scan_dir(self, directory: Path, depth: int = 0) -> None:
        directory = directory.resolve()
        if directory in self.scanned_dirs:
            return
        self.scanned_dirs.add(directory)
        self.modules.append(self.display(directory))
        if depth > MAX_MODULE_DEPTH:
            self.add("module-depth", f"module nesting deeper than {MAX_MODULE_DEPTH}", directory)
            return
        files: list[ParsedFile] = []
        for path in sorted(directory.iterdir()):
            if not path.name.endswith((".tf", ".tf.json")):
                continue
            # Inside an allowed root walk_workdir did not see the file: same symlink rules.
            outside = not _within(directory, [self.workdir])
            if outside and path.is_symlink() and not self.check_symlink(path):
                continue
            parsed = self.parse(path)
            if parsed is not None:
                files.append(parsed)
        provider_sources = self.provider_sources(files)
        for parsed in files:
            self.check_file(parsed, directory, provider_sources, depth)

    def parse(self, path: Path) -> ParsedFile | None:
        text = self.read(path)
        if text is None:
            return None
        self.files_scanned.append(self.display(path))
        self.text_scan(path, text)
        is_json = path.name.endswith(".tf.json")
        try:
            parsed = parse_tf_json(path, text) if is_json else parse_hcl(path, text)
        except RecursionError:
            self.add("unparseable", "nesting too deep for the safety gate; refusing to run it", path)
            return None
        except HclSyntaxError as exc:
            line = text.count("\n", 0, max(exc.pos, 0)) + 1
            self.add(
                "unparseable",
                f"the safety gate cannot parse this file ({exc}); refusing to run it",
                path,
                line,
            )
            return None
        if not is_json:
            self.hcl2_cross_check(path, text)
        return parsed

    def provider_sources(self, files: list[ParsedFile]) -> dict[str, str]:
        """Local provider name -> normalized source for one module (required_providers)."""
        sources: dict[str, str] = {}
        for parsed in files:
            for block in parsed.body:
                if not isinstance(block, Block) or block.type != "terraform":
                    continue
                for req in block.blocks("required_providers"):
                    for attr in req.attrs().values():
                        source = self.required_provider_source(attr)
                        if source is None:
                            self.add(
                                "provider-not-allowed",
                                f"provider {attr.name!r}: source must be a literal string",
                                parsed.path,
                                attr.line,
                            )
                            continue
                        sources[attr.name] = source
                        if source not in self.allowed_providers:
                            self.add(
                                "provider-not-allowed",
                                f"provider {attr.name!r} ({source}) is not in GANTRY_ALLOWED_PROVIDERS",
                                parsed.path,
                                attr.line,
                            )
        return sources

    def required_provider_source(self, attr: Attr) -> str | None:
        if attr.json_value is not None:
            value = attr.json_value
            if isinstance(value, str):  # legacy `aws = "~> 5.0"`: a version constraint, implied source
                return normalize_provider_source(f"hashicorp/{attr.name}")
            if isinstance(value, dict):
                source = value.get("source")
                if source is None:
                    return normalize_provider_source(f"hashicorp/{attr.name}")
                return (
                    normalize_provider_source(source)
                    if isinstance(source, str) and "${" not in source
                    else None
                )
            return None
        toks = [t for t in attr.tokens if t.kind != "NL"]
        if len(toks) == 1 and toks[0].kind == "STR":
            return normalize_provider_source(f"hashicorp/{attr.name}")
        for i, tok in enumerate(toks):
            if tok.kind in ("IDENT", "STR") and (tok.value == "source" or tok.literal == "source"):
                if i + 2 < len(toks) and toks[i + 1].value in ("=", ":") and toks[i + 2].kind == "STR":
                    literal = toks[i + 2].literal
                    return normalize_provider_source(literal) if literal is not None else None
                return None
        return normalize_provider_source(f"hashicorp/{attr.name}")

    def implied_provider(self, local_name: str, sources: Mapping[str, str]) -> str:
        if local_name == "terraform":
            return BUILTIN_PROVIDER
        return sources.get(local_name) or normalize_provider_source(f"hashicorp/{local_name}")

    # checks -----------------------------------------------------------------------------------------
    def trusted(self, path: Path) -> bool:
        if path.parent != self.workdir:
            return False
        expected = self.trusted_files.get(path.name)
        if expected is None:
            return False
        if file_sha256(path) != expected:
            self.add(
                "trusted-file-modified",
                "listed as a renderer-generated file but its sha256 differs from what the renderer wrote",
                path,
            )
            return False
        self.trusted_used.append(path.name)
        self.trusted_paths.add(path)
        return True

    def check_file(
        self, parsed: ParsedFile, module_dir: Path, sources: Mapping[str, str], depth: int
    ) -> None:
        path = parsed.path
        trusted = self.trusted(path)
        name = path.name
        if name in ("override.tf", "override.tf.json") or name.endswith(
            ("_override.tf", "_override.tf.json")
        ):
            self.add("override-file", "override files silently merge into other blocks; not allowed", path)
        for block in parsed.body:
            if isinstance(block, Attr):
                continue
            self.check_top_block(parsed, block, module_dir, sources, trusted, depth)
        for block, _ in _walk_blocks(parsed.body):
            if block.type == "provisioner":
                kind = block.labels[0] if block.labels else "?"
                self.add("provisioner", f"provisioner {kind!r} runs commands on the worker", path, block.line)
            elif block.type == "dynamic" and block.labels and block.labels[0] == "provisioner":
                self.add("provisioner", "dynamic provisioner block", path, block.line)
            elif block.type in ("data", "ephemeral") and block.labels:
                self.check_data(parsed, block, sources)
        self.check_functions(parsed, module_dir)

    def check_top_block(
        self,
        parsed: ParsedFile,
        block: Block,
        module_dir: Path,
        sources: Mapping[str, str],
        trusted: bool,
        depth: int,
    ) -> None:
        path = parsed.path
        if block.type == "terraform":
            for inner in block.blocks("backend", "cloud"):
                backend_type = inner.labels[0] if inner.labels else None
                if trusted and inner.type == "backend" and backend_type in TRUSTED_BACKEND_TYPES:
                    self.check_credentials(parsed, inner, allow_overrides=True)
                    continue
                what = "cloud block" if inner.type == "cloud" else f"backend {backend_type!r}"
                self.add(
                    "backend-block",
                    f"{what} in generated code: state location belongs to the platform"
                    + ("" if not trusted else " (only an s3 backend is allowed in the trusted backend file)"),
                    path,
                    inner.line,
                )
        elif block.type == "provider":
            local_name = block.labels[0] if block.labels else None
            if local_name is None:
                self.add("provider-not-allowed", "provider block without a literal name", path, block.line)
                return
            source = self.implied_provider(local_name, sources)
            if source not in self.allowed_providers:
                self.add(
                    "provider-not-allowed",
                    f"provider {local_name!r} ({source}) is not in GANTRY_ALLOWED_PROVIDERS",
                    path,
                    block.line,
                )
            self.check_credentials(parsed, block, allow_overrides=trusted)
            if trusted:
                self.trusted_provider_files = True
            else:
                self.untrusted_providers.append((local_name, path, block.line))
        elif block.type == "module":
            self.check_module(parsed, block, module_dir, depth)
        elif block.type in ("resource", "data", "ephemeral") and block.labels:
            self.check_resource_provider(parsed, block, sources)
        elif block.type == "check":
            for inner in block.blocks("data"):
                self.check_resource_provider(parsed, inner, sources)

    def check_resource_provider(self, parsed: ParsedFile, block: Block, sources: Mapping[str, str]) -> None:
        rtype = block.labels[0]
        if rtype is None:
            self.add("unparseable", f"{block.type} block with a non-literal type", parsed.path, block.line)
            return
        provider_attr = block.attrs().get("provider")
        local_name = rtype.split("_", 1)[0]
        if provider_attr is not None:
            ref = "".join(t.value for t in provider_attr.tokens if t.kind != "NL")
            if isinstance(provider_attr.json_value, str):
                ref = provider_attr.json_value
            local_name = ref.split(".", 1)[0] or local_name
        source = self.implied_provider(local_name, sources)
        if source not in self.allowed_providers:
            self.add(
                "provider-not-allowed",
                f"{block.type} {rtype!r} needs provider {source}, not in GANTRY_ALLOWED_PROVIDERS",
                parsed.path,
                block.line,
            )

    def check_credentials(self, parsed: ParsedFile, block: Block, *, allow_overrides: bool) -> None:
        path = parsed.path
        for item, _ in _walk_items(block.body):
            name = item.name if isinstance(item, Attr) else item.type
            if isinstance(item, Block) and item.type == "dynamic" and item.labels:
                name = item.labels[0] or "dynamic"
            line = item.line
            if name in STATIC_CREDENTIAL_ATTRS and isinstance(item, Attr):
                self.add(
                    "static-credentials", f"static credential {name!r} in {block.type} block", path, line
                )
            elif name in CREDENTIAL_OVERRIDE_ATTRS:
                self.add(
                    "credential-override",
                    f"{name!r} selects credentials outside the platform's AssumeRole",
                    path,
                    line,
                )
            elif name in ASSUME_ROLE_BLOCKS and not allow_overrides:
                self.add(
                    "assume-role-override",
                    f"{name!r} in {block.type} block: only the renderer's provider file may assume roles",
                    path,
                    line,
                )
            elif name in ENDPOINT_OVERRIDE_ATTRS and not allow_overrides:
                self.add(
                    "endpoint-override",
                    f"{name!r} redirects API traffic and credentials; only the renderer's provider file may",
                    path,
                    line,
                )

    def check_module(self, parsed: ParsedFile, block: Block, module_dir: Path, depth: int) -> None:
        path = parsed.path
        attr = block.attrs().get("source")
        label = block.labels[0] if block.labels else "?"
        if attr is None:
            self.add("module-source", f"module {label!r} has no source", path, block.line)
            return
        source = _attr_literal(attr)
        if source is None:
            self.add("module-source", f"module {label!r}: source must be a literal string", path, attr.line)
            return
        if not source.startswith(("./", "../", "/")) or "::" in source or "//" in source.replace("://", ""):
            self.add(
                "module-source",
                f"module {label!r}: non-local source {source!r} (registry, git, http, s3 are blocked)",
                path,
                attr.line,
            )
            return
        target = (module_dir / source).resolve()
        if not _within(target, [self.workdir, *self.roots]):
            self.add(
                "module-source",
                f"module {label!r}: {source!r} resolves outside the work dir and the allowed module roots",
                path,
                attr.line,
            )
            return
        if not target.is_dir():
            self.add("module-source", f"module {label!r}: {source!r} is not a directory", path, attr.line)
            return
        self.scan_dir(target, depth + 1)

    def check_data(self, parsed: ParsedFile, block: Block, sources: Mapping[str, str]) -> None:
        path = parsed.path
        dtype = block.labels[0]
        if dtype == "external":
            self.add("data-external", 'data "external" runs a program during plan', path, block.line)
        elif dtype == "terraform_remote_state":
            self.add(
                "remote-state",
                "terraform_remote_state reads another state with platform credentials",
                path,
                block.line,
            )
        elif dtype == "http":
            attr = block.attrs().get("url")
            url = _attr_literal(attr) if attr is not None else None
            if url is None:
                self.add("data-http", 'data "http" needs a literal url to be checked', path, block.line)
                return
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            if parts.scheme not in ("http", "https") or host not in self.http_hosts:
                self.add(
                    "data-http",
                    f'data "http" fetches {host or url!r}, not in GANTRY_HTTP_DATA_ALLOWED_HOSTS',
                    path,
                    attr.line if attr else block.line,
                )

    def check_functions(self, parsed: ParsedFile, module_dir: Path) -> None:
        line_of = (lambda pos: 0) if parsed.is_json else parsed.line_of
        checked = sum(self.check_calls(toks, parsed.path, module_dir, line_of) for toks in parsed.token_lists)
        # Defence in depth: every call the code view shows must have been checked above.
        if not parsed.is_json:
            seen = _FILE_CALL_RE.findall(parsed.code)
            if len(seen) > checked:
                self.add("file-read", "file function call the parser could not analyse", parsed.path)

    def check_calls(self, toks: list[Tok], path: Path, module_dir: Path, line_of: Any) -> int:
        checked = 0
        for i, tok in enumerate(toks):
            if tok.kind != "IDENT" or tok.value not in FILE_FUNCTIONS:
                continue
            if not (i + 1 < len(toks) and toks[i + 1].kind == "PUNCT" and toks[i + 1].value == "("):
                continue
            if i > 0 and toks[i - 1].kind == "OP" and toks[i - 1].value in (".", "::"):
                continue  # an attribute or provider-defined function named like one
            checked += 1
            args, _ = _split_args(toks, i + 1)
            problem, resolved = self.file_arg_problem(args, module_dir, tok.value)
            if problem:
                self.add("file-read", f"{tok.value}(): {problem}", path, line_of(tok.start))
            elif tok.value == "templatefile" and resolved is not None:
                self.check_template(resolved)
        return checked

    def check_template(self, template: Path) -> None:
        """A templatefile() template may call file() itself; relative paths resolve against the work dir."""
        if template in self.scanned_templates or not template.is_file():
            return
        self.scanned_templates.add(template)
        text = self.read(template)
        if text is None:
            return
        self.text_scan(template, text)
        try:
            tok = template_tokens(text)
        except HclSyntaxError as exc:
            self.add("unparseable", f"template: {exc}", template)
            return
        newlines = [m.start() for m in re.finditer("\n", text)]
        for toks in _token_lists([tok]):
            self.check_calls(toks, template, self.workdir, lambda pos: bisect.bisect_left(newlines, pos) + 1)

    def file_arg_problem(
        self, args: list[list[Tok]], module_dir: Path, func: str
    ) -> tuple[str | None, Path | None]:
        """Why the call's path is not allowed (None when it is), and the path it resolves to."""
        if not args:
            return "no path argument", None
        first = args[0]
        bare = "".join(t.value for t in first)
        if bare in ("path.module", "path.root", "path.cwd"):  # fileset(path.module, "*.json")
            first = [Tok("STR", bare, 0, 0, parts=[("interp", first)])]
        if len(first) != 1 or first[0].kind != "STR":
            return "path must be a literal string", None
        tok = first[0]
        base, rel = self.workdir, tok.literal
        if rel is None and tok.parts and tok.parts[0][0] == "interp":
            ref = "".join(t.value for t in tok.parts[0][1] if t.kind != "NL")
            rest_parts = tok.parts[1:]
            rest = "".join(v for _, v in rest_parts) if all(k == "lit" for k, _ in rest_parts) else None
            if ref in ("path.module", "path.root", "path.cwd") and rest is not None and rest[:1] in ("", "/"):
                base = module_dir if ref == "path.module" else self.workdir
                rel = rest.lstrip("/") or "."
        if rel is None:
            return "path must be a literal string (optionally prefixed with ${path.module}/)", None
        if rel.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:", rel):
            return f"absolute path {rel!r}", None
        resolved = (base / rel).resolve()
        if not _within(resolved, [self.workdir, *self.roots]):
            return f"{rel!r} escapes the work dir", None
        if func == "fileset":
            if len(args) < 2 or len(args[1]) != 1 or args[1][0].kind != "STR" or args[1][0].literal is None:
                return "pattern must be a literal string", None
            pattern = args[1][0].literal
            if pattern.startswith("/") or ".." in Path(pattern).parts:
                return f"pattern {pattern!r} escapes the directory", None
        return None, resolved

    def text_scan(self, path: Path, text: str) -> None:
        """Raw-text scan, independent of both parsers (commented-out code counts: generated code has none)."""
        line_of = lambda pos: text.count("\n", 0, pos) + 1  # noqa: E731
        for m in AWS_KEY_ID_RE.finditer(text):
            self.add("static-credentials", "AWS access key id in source", path, line_of(m.start()))
        for m in _RAW_PROVISIONER_RE.finditer(text):
            self.pending_text.append(
                ("provisioner", f"provisioner {m.group(1)!r} (text scan)", path, line_of(m.start()))
            )
        for m in _RAW_DATA_RE.finditer(text):
            rule = {
                "external": "data-external",
                "http": "data-http",
                "terraform_remote_state": "remote-state",
            }[m.group(1)]
            if rule == "data-http":
                continue  # needs the url: the parsers decide
            self.pending_text.append((rule, f'data "{m.group(1)}" (text scan)', path, line_of(m.start())))
        for m in _RAW_BACKEND_RE.finditer(text):
            rule = "backend-block" if not re.match(r'backend\s*"s3"', m.group(1)) else "backend-block:s3"
            self.pending_text.append((rule, f"{m.group(1)} block (text scan)", path, line_of(m.start())))

    def hcl2_cross_check(self, path: Path, text: str) -> None:
        findings = _hcl2_findings(text)
        if findings is None:
            self.hcl2_unparsed.append(self.display(path))
            return
        self.pending_hcl2.extend((rule, message, path) for rule, message in findings)

    def check_provider_ownership(self) -> None:
        """Once the renderer supplies the provider configuration, nobody else may add one: an extra
        `provider "aws" { alias = "raw" }` would run with whatever credentials the runner was given,
        bypassing the trusted file's assume_role."""
        if not self.trusted_provider_files:
            return
        for name, path, line in self.untrusted_providers:
            self.add(
                "provider-config-outside-trusted-file",
                f"provider {name!r} configured outside the renderer's provider file",
                path,
                line,
            )

    def flush_secondary(self) -> None:
        """Findings from the text scan and python-hcl2 that the main parser did not already report."""
        secondary = [*self.pending_text, *((rule, msg, path, 0) for rule, msg, path in self.pending_hcl2)]
        for rule, message, path, line in secondary:
            if rule == "backend-block:s3":
                if path in self.trusted_paths:
                    continue  # the renderer's own backend file
                rule = "backend-block"
            if not self.has(rule, path):
                self.add(rule, message, path, line)


@functools.lru_cache(maxsize=1024)
def _hcl2_findings(text: str) -> tuple[tuple[str, str], ...] | None:
    """(rule, message) pairs python-hcl2 sees in `text`, or None when it cannot parse it.

    A pure function of the text, cached: python-hcl2 is slow (most of this gate's time) and every run
    of a curated stack feeds it the same module files, so a long-lived worker parses each version once.
    """
    try:
        import hcl2

        data = hcl2.loads(text, serialization_options=hcl2.SerializationOptions(strip_string_quotes=True))
    except Exception:  # python-hcl2 lags Terraform's grammar; our own parser is authoritative
        return None
    findings: list[tuple[str, str]] = []
    for key, parent, value in _walk_json(data):
        if key == "provisioner":
            findings.append(("provisioner", "provisioner (python-hcl2)"))
        elif parent == "data" and isinstance(value, list | dict):
            for entry in value if isinstance(value, list) else [value]:
                if isinstance(entry, dict) and "external" in entry:
                    findings.append(("data-external", 'data "external" (python-hcl2)'))
        elif parent == "terraform" and key == "cloud":
            findings.append(("backend-block", "cloud block (python-hcl2)"))
        elif parent == "terraform" and key == "backend":
            for entry in value if isinstance(value, list) else [value]:
                for backend_type in entry if isinstance(entry, dict) else ["?"]:
                    rule = "backend-block:s3" if backend_type == "s3" else "backend-block"
                    findings.append((rule, f"backend {backend_type!r} (python-hcl2)"))
    return tuple(findings)


def _walk_blocks(items: list[Attr | Block], depth: int = 0) -> Iterator[tuple[Block, int]]:
    for item in items:
        if isinstance(item, Block):
            yield item, depth
            yield from _walk_blocks(item.body, depth + 1)


def _walk_items(items: list[Attr | Block]) -> Iterator[tuple[Attr | Block, int]]:
    for item in items:
        yield item, 0
        if isinstance(item, Block):
            yield from _walk_items(item.body)


def _walk_json(value: Any, parent: str | None = None) -> Iterator[tuple[str, str | None, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, parent, item
            yield from _walk_json(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_json(item, parent)


def safety_gate(
    workdir: str | os.PathLike[str],
    *,
    allowed_module_roots: list[Path],
    trusted_files: Mapping[str, str] | None = None,
    allowed_providers: Iterable[str] | None = None,
    http_allowed_hosts: Iterable[str] | None = None,
) -> GateResult:
    """Check the raw Terraform under `workdir` before anything runs it.

    trusted_files: root-level file name -> sha256 of the content the renderer wrote. Only such files may
    carry an s3 `backend` block and provider `assume_role`/`endpoints` settings; every other rule still
    applies to them. allowed_providers / http_allowed_hosts default to GANTRY_ALLOWED_PROVIDERS /
    GANTRY_HTTP_DATA_ALLOWED_HOSTS.
    """
    result = GateResult(name="safety")
    with timed(result):
        root = Path(workdir).resolve()
        if allowed_providers is None:
            allowed_providers = _setting("GANTRY_ALLOWED_PROVIDERS", ["hashicorp/aws"])
        if http_allowed_hosts is None:
            http_allowed_hosts = _setting("GANTRY_HTTP_DATA_ALLOWED_HOSTS", [])
        scan = _Scan(
            workdir=root,
            roots=[Path(r).resolve() for r in allowed_module_roots],
            trusted_files=trusted_files or {},
            allowed_providers={normalize_provider_source(p) for p in allowed_providers},
            http_hosts={h.strip().lower() for h in http_allowed_hosts},
            result=result,
        )
        try:
            if not root.is_dir():
                scan.add("missing-workdir", "work dir does not exist", root)
            else:
                tf_dirs = scan.walk_workdir()
                if root not in tf_dirs:
                    scan.add(
                        "no-configuration", "no .tf files in the work dir root", root, severity=Severity.HIGH
                    )
                scan.scan_dir(root)
                # Directories under the work dir no module block references: Terraform ignores them, but
                # a module source the resolver misread must not slip through, so scan them too.
                for directory in tf_dirs:
                    scan.scan_dir(directory, depth=1)
                scan.check_provider_ownership()
                scan.flush_secondary()
        except Exception as exc:  # fail closed with a finding, never a traceback
            logger.exception("safety gate crashed on %s", root)
            scan.add(
                "internal-error", f"the safety gate failed ({type(exc).__name__}); refusing to run", root
            )
        blocked = sum(1 for f in result.findings if f.blocking)
        result.summary = (
            f"{blocked} blocked construct(s) in {len(scan.files_scanned)} file(s)"
            if result.status == Status.FAIL
            else f"{len(scan.files_scanned)} file(s) in {len(scan.modules)} module(s) checked"
        )
        result.details = {
            "files": scan.files_scanned,
            "modules": scan.modules,
            "trusted_files": sorted(set(scan.trusted_used)),
            "hcl2_unparsed": scan.hcl2_unparsed,
        }
    return result
