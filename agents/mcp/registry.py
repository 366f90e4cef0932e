"""The tool registry and `invoke`, the single entry point the MCP transports and `manage.py tool` call.

Every tool is registered here with its name, argument schema, least role (a `tenants.roles` action) and
whether it is read-only or mutating. `invoke(identity, name, arguments)` validates the arguments against
the tool's pydantic model, checks the identity's effective role against the tool's `tenants.roles` action, runs the tool with the token's user and
tenant, turns every failure into a `ToolFailure` with a plain message (never a traceback), and appends one
audit event per call — success or not — naming the tool, a short summary of the arguments and the outcome.
The identity (`tenants.tokens.TokenIdentity`) is passed per call; nothing here is global per process.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as ArgumentsInvalid

from agents.aws_readonly import AwsReadError
from agents.circuit_breaker import CircuitOpen
from portal import request_context
from runs.audit import audit_record
from runs.states import IllegalTransition
from tenants.roles import least_role, role_allows
from tenants.tokens import TokenIdentity

logger = logging.getLogger(__name__)

AUDIT_ACTION = "mcp.tool_called"
MAX_SUMMARY_TEXT = 200


class ToolFailure(Exception):
    """What a tool call answers instead of a result. `code` is one of: invalid, not_found, forbidden,
    conflict, unavailable, aws_error, internal."""

    def __init__(self, message: str, *, code: str = "invalid", details: dict | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.details = message, code, details or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            **({"details": self.details} if self.details else {}),
        }


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown keys are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoArgs(ToolArgs):
    pass


class ConfigArgs(ToolArgs):
    """Arguments of a tool that acts on one config. Unnamed, the tool picks the caller's default one;
    `manage.py tool` names the user's portal config instead. (Where `config` only filters, as in
    `list_runs`, the arguments do not derive from this.)"""

    config: str | None = Field(None, description="Config name or id (default: your first non-prod config).")


Handler = Callable[[TokenIdentity, Any], dict[str, Any]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args: type[ToolArgs]
    action: str  # the tenants.roles action the token's role must allow
    handler: Handler = field(repr=False)
    read_only: bool = True

    @property
    def least_role(self) -> str:
        return least_role(self.action).value

    def input_schema(self) -> dict[str, Any]:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        schema.setdefault("properties", {})
        return schema


TOOLS: dict[str, ToolSpec] = {}


def tool(name: str, *, action: str, args: type[ToolArgs] = NoArgs, read_only: bool = True):
    """Register a tool; its docstring is the description the model reads."""

    least_role(action)  # an unknown action fails at import, not at the first call

    def register(fn: Handler) -> Handler:
        if name in TOOLS:
            raise ValueError(f"MCP tool {name!r} is registered twice")
        description = " ".join((fn.__doc__ or "").split())
        TOOLS[name] = ToolSpec(name, description, args, action, fn, read_only)
        return fn

    return register


# The modules that register tools, in the order they are listed: a plain name is a module of this package,
# a dotted one is a full path (a domain's `agents.<domain>.tools`). A new tool module is one more name here.
GROUPS: tuple[str, ...] = ("run_tools", "catalog_tools", "aws_tools", "ops_tools")


def _module(group: str) -> str:
    return group if "." in group else f"{__package__}.{group}"


def all_tools() -> dict[str, ToolSpec]:
    """Every tool, in GROUPS order (importing a group's module registers its tools)."""
    order = {_module(group): rank for rank, group in enumerate(GROUPS)}
    for module in order:
        importlib.import_module(module)
    stray = sorted(
        f"{spec.name} ({spec.handler.__module__})"
        for spec in TOOLS.values()
        if spec.handler.__module__ not in order
    )
    if stray:
        raise RuntimeError(f"Tools registered outside the modules in GROUPS: {', '.join(stray)}")
    return dict(sorted(TOOLS.items(), key=lambda item: order[item[1].handler.__module__]))


# --- calling -----------------------------------------------------------------------------------------


def _validation_message(exc: ValidationError) -> tuple[str, dict]:
    if hasattr(exc, "message_dict"):
        details = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        text = "; ".join(f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in details.items())
        return text, details
    return " ".join(str(m) for m in exc.messages), {}


def _arguments_message(exc: ArgumentsInvalid) -> tuple[str, dict]:
    details: dict[str, list[str]] = {}
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        details.setdefault(where, []).append(error["msg"])
    return "Invalid arguments: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in details.items()), details


def _failure_for(exc: Exception) -> ToolFailure:
    """Translate what services, selectors and AWS raise into a tool failure a model can act on."""
    if isinstance(exc, ToolFailure):
        return exc
    if isinstance(exc, ObjectDoesNotExist):
        return ToolFailure("Not found.", code="not_found")
    if isinstance(exc, PermissionDenied):
        return ToolFailure(str(exc) or "Not allowed.", code="forbidden")
    if isinstance(exc, ValidationError):
        message, details = _validation_message(exc)
        return ToolFailure(message, code="invalid", details=details)
    if isinstance(exc, IllegalTransition):
        return ToolFailure(str(exc), code="conflict")
    if isinstance(exc, CircuitOpen):
        return ToolFailure(str(exc), code="unavailable", details={"retry_after": round(exc.retry_after, 1)})
    if isinstance(exc, AwsReadError):
        return ToolFailure(str(exc), code="aws_error")
    reference = request_context.current().request_id
    logger.exception("MCP tool failed unexpectedly")
    return ToolFailure(
        f"Internal error; nothing was changed by this failure. Reference: {reference}.", code="internal"
    )


def summarize_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """What the audit event keeps of the arguments: scalars as given, long text cut, structures sized."""

    def short(value: Any) -> Any:
        if isinstance(value, str):
            return value if len(value) <= MAX_SUMMARY_TEXT else value[:MAX_SUMMARY_TEXT] + "…"
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, list | tuple):
            return [short(v) for v in list(value)[:10]]
        if isinstance(value, dict):
            return {str(k)[:64]: short(v) for k, v in list(value.items())[:10]}
        return str(value)[:MAX_SUMMARY_TEXT]

    return {str(k)[:64]: short(v) for k, v in list((arguments or {}).items())[:20]}


def invoke(
    identity: TokenIdentity, name: str, arguments: dict[str, Any] | None, *, transport: str = "direct"
) -> dict[str, Any]:
    """Run tool `name` for `identity`; returns its result or raises ToolFailure. Always audited."""
    arguments = dict(arguments or {})
    ctx = request_context.current()
    bound = None
    if not ctx.request_id:  # stdio has no request id; give each call one so logs and audit agree
        bound = request_context.bind(request_context.RequestContext(request_id=uuid.uuid4().hex))
    try:
        try:
            result = _run(identity, name, arguments)
        except Exception as exc:
            failure = _failure_for(exc)
            _audit(identity, name, arguments, transport, failure=failure)
            raise failure from (None if failure is exc else exc)
        _audit(identity, name, arguments, transport, result=result)
        return result
    finally:
        if bound is not None:
            request_context.reset(bound)


def _run(identity: TokenIdentity, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    spec = all_tools().get(name)
    if spec is None:
        raise ToolFailure(f"Unknown tool {name!r}.", code="not_found")
    try:
        args = spec.args.model_validate(arguments)
    except ArgumentsInvalid as exc:
        message, details = _arguments_message(exc)
        raise ToolFailure(message, code="invalid", details=details) from None
    if not role_allows(identity.role, spec.action):
        raise ToolFailure(
            f"Your role here ({identity.role}) does not allow {name}; it needs {spec.action} "
            f"({spec.least_role} or above).",
            code="forbidden",
        )
    return spec.handler(identity, args)


def _audit(
    identity: TokenIdentity,
    name: str,
    arguments: dict[str, Any],
    transport: str,
    *,
    result: dict | None = None,
    failure: ToolFailure | None = None,
) -> None:
    outcome = "ok" if failure is None else failure.code
    data: dict[str, Any] = {
        "tool": name,
        "arguments": summarize_arguments(arguments),
        "outcome": outcome,
        "transport": transport,
        "token": identity.token.prefix if identity.token else None,
        "role": identity.role,
    }
    if failure is not None:
        data["error"] = failure.message[:500]
    elif result and isinstance(result.get("run"), dict) and "id" in result["run"]:
        data["run"] = result["run"]["id"]
    try:
        audit_record(
            tenant=identity.tenant,
            action=AUDIT_ACTION,
            actor=identity.user,
            target=identity.token,  # None for the command line, which acts as the member
            summary=f"Tool {name} ({transport}): {outcome}"
            + (f" ({failure.message[:200]})" if failure else ""),
            data=data,
        )
    except Exception:
        # The call itself already happened (or failed) and its own state changes carry their own events.
        logger.exception("could not audit MCP tool call %s", name)
