"""What the renderer turns into Terraform: one curated stack, its parameters, tags, region, account and state.

A `CompositionSpec` is validated on construction: the stack must be one of `iac/stacks/*`, every parameter
must be a variable the stack declares (read from its `variables.tf` with python-hcl2 at validation time,
so stack changes need no code change here) and have a value of the declared type, tags are AWS-shaped
strings, and the backend names are platform-shaped. `spec.sha256()` is a canonical digest: the same spec
always hashes the same, whatever order its dicts were built in.

Values are never interpreted: the renderer writes parameters and tags as JSON (`terraform.tfvars.json`),
where Terraform reads strings literally, so a `${...}` in a tag value stays text.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iac.placement import (
    AccountRef,
    BackendSpec,
    Placement,
    SpecError,
    canonical_json,
    describe_errors,
)
from iac.state import backend_for

if TYPE_CHECKING:
    from tenants.models import AwsAccount, Config

# Re-exported: callers name the spec's error, digest and parts through iac.spec.
__all__ = ["AccountRef", "BackendSpec", "CompositionSpec", "SpecError", "build_spec", "canonical_json",
           "describe_errors", "stack_variables", "validate_parameters"]  # fmt: skip

IAC_ROOT = Path(__file__).resolve().parent  # holds `stacks/` and `modules/`; tests may point it elsewhere

STACK_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Stack variables the spec fills itself: `tags` comes from spec.tags, never from parameters.
RESERVED_PARAMETERS = frozenset({"tags"})


# --- stack variables -----------------------------------------------------------------------------------
class Variable(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str = "any"  # the type expression as written, e.g. "list(string)"
    required: bool = True
    default_null: bool = False  # declared with `default = null`: null is a valid value
    sensitive: bool = False


def stacks_dir() -> Path:
    return IAC_ROOT / "stacks"


def available_stacks() -> list[str]:
    root = stacks_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "variables.tf").is_file())


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _type_text(raw: Any) -> str:
    text = str(_unquote(raw)).strip() if raw is not None else "any"
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    return re.sub(r"\s+", "", text) or "any"


def stack_variables(stack: str) -> dict[str, Variable]:
    """The variables `iac/stacks/<stack>/*.tf` declares (re-read whenever a file changes)."""
    directory = stacks_dir() / stack
    files = sorted(directory.glob("*.tf"))
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return dict(_read_variables(str(directory), stamp))


@lru_cache(maxsize=64)
def _read_variables(directory: str, stamp: tuple) -> tuple[tuple[str, Variable], ...]:
    import hcl2

    found: dict[str, Variable] = {}
    for path_text, _, _ in stamp:
        path = Path(path_text)
        try:
            data = hcl2.loads(path.read_text(encoding="utf-8"))
        except Exception as exc:  # a broken stack is a platform bug: say where
            raise SpecError(f"cannot parse {path.name} of stack {Path(directory).name}: {exc}") from exc
        for block in data.get("variable", []):
            for raw_name, body in block.items():
                name = _unquote(raw_name)
                body = body if isinstance(body, dict) else {}
                found[name] = Variable(
                    name=name,
                    type=_type_text(body.get("type")),
                    required="default" not in body,
                    default_null="default" in body and body["default"] is None,
                    sensitive=bool(body.get("sensitive") is True or body.get("sensitive") == "true"),
                )
    return tuple(sorted(found.items()))


# --- type checking -------------------------------------------------------------------------------------
def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        parts.append("".join(current))
    return [p for p in parts if p]


def _inner(type_text: str, name: str) -> str | None:
    prefix = f"{name}("
    if type_text.startswith(prefix) and type_text.endswith(")"):
        return type_text[len(prefix) : -1]
    return None


def check_type(value: Any, type_text: str, where: str) -> None:
    """Raise SpecError unless `value` (JSON-like) fits the Terraform type expression."""
    t = type_text
    if t.startswith("optional(") and t.endswith(")"):
        t = _split_top(t[len("optional(") : -1])[0]
    if value is None:
        return  # nullability is decided by the caller (only optional variables may be null)
    if t == "any":
        _check_json(value, where)
        return
    if t == "string":
        if not isinstance(value, str):
            raise SpecError(f"{where}: expected a string, got {_kind(value)}")
        _check_text(value, where)
        return
    if t == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{where}: expected a number, got {_kind(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{where}: numbers must be finite")
        return
    if t == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"{where}: expected true or false, got {_kind(value)}")
        return
    for collection in ("list", "set"):
        inner = _inner(t, collection)
        if inner is not None:
            if not isinstance(value, list):
                raise SpecError(f"{where}: expected a list, got {_kind(value)}")
            for i, item in enumerate(value):
                if item is None:
                    raise SpecError(f"{where}[{i}]: null is not allowed in a {collection}")
                check_type(item, inner, f"{where}[{i}]")
            return
    inner = _inner(t, "map")
    if inner is not None:
        if not isinstance(value, dict):
            raise SpecError(f"{where}: expected a map, got {_kind(value)}")
        for key, item in value.items():
            if not isinstance(key, str):
                raise SpecError(f"{where}: map keys must be strings")
            _check_text(key, f"{where} key")
            check_type(item, inner, f"{where}[{key!r}]")
        return
    inner = _inner(t, "tuple")
    if inner is not None:
        elements = _split_top(inner.strip("[]"))
        if not isinstance(value, list) or len(value) != len(elements):
            raise SpecError(f"{where}: expected a list of {len(elements)} element(s)")
        for i, (item, element_type) in enumerate(zip(value, elements, strict=True)):
            check_type(item, element_type, f"{where}[{i}]")
        return
    inner = _inner(t, "object")
    if inner is not None:
        if not isinstance(value, dict):
            raise SpecError(f"{where}: expected an object, got {_kind(value)}")
        attrs: dict[str, str] = {}
        for part in _split_top(inner.strip("{}")):
            name, _, attr_type = part.partition("=")
            attrs[name.strip('"')] = attr_type
        unknown = sorted(set(value) - set(attrs))
        if unknown:
            raise SpecError(f"{where}: unknown attribute(s) {', '.join(unknown)}")
        for name, attr_type in attrs.items():
            if name not in value and not attr_type.startswith("optional("):
                raise SpecError(f"{where}: missing attribute {name!r}")
            if name in value:
                check_type(value[name], attr_type, f"{where}.{name}")
        return
    raise SpecError(f"{where}: unsupported variable type {type_text!r}")


def _kind(value: Any) -> str:
    return {
        bool: "a bool",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a map",
    }.get(type(value), type(value).__name__)


def _check_text(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SpecError(f"{where}: not valid Unicode text (lone surrogate)") from exc


def _check_json(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(f"{where}: numbers must be finite")
        return
    if isinstance(value, str):
        _check_text(value, where)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SpecError(f"{where}: map keys must be strings")
            _check_text(key, f"{where} key")
            _check_json(item, f"{where}[{key!r}]")
        return
    raise SpecError(f"{where}: {type(value).__name__} is not a JSON value")


# --- the spec ------------------------------------------------------------------------------------------
class CompositionSpec(Placement):
    """One curated stack with its parameters, placed (`Placement`) in an account and config."""

    stack: str
    parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("stack")
    @classmethod
    def _stack(cls, value: str) -> str:
        stacks = available_stacks()
        if not STACK_RE.match(value) or value not in stacks:
            raise ValueError(f"unknown stack {value!r}; choose one of: {', '.join(stacks) or '(none)'}")
        return value

    @model_validator(mode="after")
    def _parameters_fit_the_stack(self) -> CompositionSpec:
        try:
            validate_parameters(self.stack, self.parameters)
        except SpecError as exc:
            raise ValueError(str(exc)) from exc
        return self

    # --- derived ---------------------------------------------------------------------------------------
    def variables(self) -> dict[str, Variable]:
        return stack_variables(self.stack)


def validate_parameters(stack: str, parameters: dict[str, Any]) -> None:
    """Unknown, missing, mistyped or reserved parameters raise SpecError naming each one."""
    variables = stack_variables(stack)
    problems: list[str] = []
    for name in sorted(parameters):
        if not isinstance(name, str) or not IDENT_RE.match(name):
            problems.append(f"parameter {name!r} is not a valid name")
        elif name in RESERVED_PARAMETERS:
            problems.append(f"parameter {name!r} is reserved: set it through the spec's tags")
        elif name not in variables:
            known = ", ".join(v for v in sorted(variables) if v not in RESERVED_PARAMETERS)
            problems.append(f"unknown parameter {name!r} for stack {stack!r} (known: {known})")
    for name, variable in sorted(variables.items()):
        if name in RESERVED_PARAMETERS:
            continue
        if variable.required and name not in parameters:
            problems.append(f"missing required parameter {name!r} ({variable.type})")
        elif name in parameters:
            value = parameters[name]
            if value is None and not variable.default_null:
                problems.append(f"parameter {name!r} cannot be null")
                continue
            try:
                check_type(value, variable.type, f"parameter {name!r}")
            except SpecError as exc:
                problems.append(str(exc))
    if problems:
        raise SpecError("; ".join(problems))


def build_spec(
    stack: str,
    parameters: dict[str, Any],
    *,
    account: AwsAccount,
    config: Config,
    tags: dict[str, str] | None = None,
    region: str | None = None,
    sandbox_endpoint: str | None = None,
) -> CompositionSpec:
    """A spec for `config`'s workspace in `account`: config tags (plus `tags`), the platform state backend."""
    if config.account_id != account.pk:
        raise SpecError("the config belongs to another account")
    region = region or config.region
    if account.mode == "sandbox" and sandbox_endpoint is None:
        from iac.sandbox import sandbox_endpoint as configured

        sandbox_endpoint = configured()
    return CompositionSpec.parse(
        {
            "stack": stack,
            "parameters": parameters,
            "tags": {**config.tags, **(tags or {})},
            "region": region,
            "account": {"id": account.pk, "account_id": account.account_id, "mode": account.mode},
            "backend": backend_for(account, config, stack, region=region).model_dump(),
            "workspace": config.workspace,
            "sandbox_endpoint": sandbox_endpoint if account.mode == "sandbox" else None,
        }
    )
