"""The shape of one catalogue entry (Cloud Custodian action-registry style) and the engine's errors.

An `ActionSpec` is declarative: what it calls, on what, with which permissions, in which batches, what
the target must look like before (`precondition`) and after (`expected`), and what undoes it. The small
functions it carries do the service-specific parts: resolve targets (read-only), observe exactly these
targets, build the exact request of one batch, and read the after-state. Waiting and verifying are the
same for every entry: poll the after-state until it matches `expected` or the wait times out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from botocore import xform_name
from django.conf import settings
from pydantic import BaseModel

if TYPE_CHECKING:
    from ..client import ActionClients

RISKS = ("low", "medium", "high")
MAX_SUMMARY_CHARS = 2000
ALREADY_THERE = "already in the expected state"


class ActionRequestInvalid(Exception):
    """The request names something wrong (unknown target, bad count, disallowed region or command);
    nothing was touched. The message says what."""


class NothingToDo(Exception):
    """No target is left to act on; `filters` are the selector that was used."""

    def __init__(self, message: str, *, filters: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.filters = dict(filters or {})


class ActionFailed(Exception):
    """AWS refused or could not answer, or an outcome was not reached; the message is safe to show."""

    def __init__(self, message: str, *, code: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.request_id = code, request_id


@dataclass(frozen=True)
class Target:
    id: str
    arn: str
    name: str | None
    tags: dict[str, str]
    region: str
    state: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        return cls(
            id=data["id"],
            arn=data["arn"],
            name=data.get("name"),
            tags=dict(data.get("tags") or {}),
            region=data["region"],
            state=dict(data.get("state") or {}),
        )


@dataclass(frozen=True)
class Resolved:
    """A target found at plan time; `named` when the user named it (an id or name), not a filter."""

    target: Target
    named: bool


@dataclass(frozen=True)
class Downtime:
    text: str
    seconds: int | None  # None: until the action is undone


@dataclass(frozen=True)
class ActionContext:
    clients: ActionClients
    args: BaseModel
    run_id: int | str | None = None
    allow_free_command: bool = False


def tag_dict(tags: list[dict[str, str]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {t[key]: t.get(value, "") for t in tags or [] if key in t}


def json_safe(value: Any) -> Any:
    """Plain JSON types only (datetimes as ISO text), so documents hash the same after a round trip."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def default_summary(response: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    text = json.dumps(body, default=_default, sort_keys=True)
    if len(text) > MAX_SUMMARY_CHARS:
        return {"truncated": True, "text": text[:MAX_SUMMARY_CHARS]}
    return json_safe(body)


def matches(after: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """Each expected key holds in the after-state; a dict expects at least those entries, and an entry
    expected as None must be absent."""
    for key, want in expected.items():
        have = after.get(key)
        if isinstance(want, Mapping):
            if not isinstance(have, Mapping) or any(have.get(k) != v for k, v in want.items()):
                return False
        elif have != want:
            return False
    return True


def no_rollback_args(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    return {}


def wait_seconds() -> float:
    return float(getattr(settings, "GANTRY_AWS_WAIT_SECONDS", 120))


def poll_seconds() -> float:
    return float(getattr(settings, "GANTRY_AWS_POLL_SECONDS", 2))


@dataclass(frozen=True)
class ActionSpec:
    name: str  # "ec2.stop_instances"
    service: str  # IAM prefix, as in an account's allowed services
    client: str  # boto3 client name
    operation: str  # API operation, "StopInstances"
    verb: str  # what a request says: "stop"
    label: str
    target_type: str
    permissions: tuple[str, ...]
    batch_size: int
    risk: str
    downtime: Downtime
    precondition: Mapping[str, tuple[Any, ...]]  # state key -> allowed values
    args_model: type[BaseModel]
    resolve: Callable[[ActionContext, Mapping[str, Any]], list[Resolved]]
    observe: Callable[[ActionContext, list[str]], dict[str, Target]]
    request: Callable[[BaseModel, list[Target]], dict[str, Any]]  # exact API kwargs of one batch
    expected: Callable[[BaseModel, Target], dict[str, Any]]
    rollback: str | None = None
    # The rollback's arguments for one batch; None when this batch cannot be undone in one call.
    rollback_args: Callable[[BaseModel, list[Target]], dict[str, Any] | None] = no_rollback_args
    check_args: Callable[[ActionContext], None] | None = None  # raises ActionRequestInvalid
    check_target: Callable[[ActionContext, Target], str | None] | None = None  # a problem, or None
    after: Callable[[ActionContext, list[Target], Mapping[str, Any]], dict[str, dict]] | None = None
    summarize: Callable[[Mapping[str, Any]], dict[str, Any]] = default_summary
    # A problem a successful HTTP answer can still report (e.g. per-resource failures), or None.
    response_problem: Callable[[Mapping[str, Any]], str | None] | None = None
    idempotency_param: str | None = None  # the API's idempotency-token parameter
    dry_run: bool = False  # the API takes DryRun (the permission pre-check)
    count_field: str | None = None  # an args field that is a count, capped by limits["max_count"]
    cost_sign: int = 0  # +1 starts billing for the target, -1 stops it
    skip_if_expected: bool = (
        False  # a target already in the expected state is left out (scale to the same count)
    )
    notes: tuple[str, ...] = field(default_factory=tuple)
    risk_of: Callable[[BaseModel], str] | None = None  # when the arguments decide the risk
    sandbox_note: str | None = None  # what the sandbox does differently, shown for sandbox accounts

    def __post_init__(self) -> None:
        if self.risk not in RISKS:
            raise ValueError(f"{self.name}: risk must be one of {RISKS}")
        if self.batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be at least 1")

    def precondition_problem(self, target: Target) -> str | None:
        for key, allowed in self.precondition.items():
            have = target.state.get(key)
            if have not in allowed:
                wanted = " or ".join(str(a) for a in allowed)
                return f"{key} is {have}, needs {wanted}"
        return None

    def risk_for(self, args: BaseModel) -> str:
        return self.risk_of(args) if self.risk_of is not None else self.risk

    def skip_reason(self, args: BaseModel, target: Target) -> str | None:
        """Why a target is left out of the plan (already there, or in the wrong state), or None."""
        seen = {**target.state, "tags": target.tags}
        if self.skip_if_expected and matches(seen, self.expected(args, target)):
            return ALREADY_THERE
        return self.precondition_problem(target)

    def invoke(self, ctx: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        method = xform_name(self.operation)
        return ctx.clients.call(self.client, lambda client: getattr(client, method)(**params))

    def after_state(
        self, ctx: ActionContext, targets: list[Target], response: Mapping[str, Any]
    ) -> dict[str, dict]:
        """The state of exactly these targets now (missing ones are absent)."""
        if self.after is not None:
            return self.after(ctx, targets, response)
        seen = self.observe(ctx, [t.id for t in targets])
        return {tid: {**t.state, "tags": t.tags} for tid, t in seen.items()}

    def wait(
        self,
        ctx: ActionContext,
        targets: list[Target],
        response: Mapping[str, Any],
        expected: Mapping[str, Mapping[str, Any]],
    ) -> tuple[dict[str, dict], bool, float]:
        """Poll until every target's after-state matches; (after, verified, seconds waited)."""
        started = time.monotonic()
        deadline, interval = started + wait_seconds(), poll_seconds()
        while True:
            after = self.after_state(ctx, targets, response)
            verified = all(t.id in after and matches(after[t.id], expected[t.id]) for t in targets)
            settled = all(after.get(t.id, {}).get("settled") for t in targets)  # will not change any more
            if verified or settled or time.monotonic() + interval > deadline:
                return json_safe(after), verified, round(time.monotonic() - started, 3)
            time.sleep(interval)
