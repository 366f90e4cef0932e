"""Tools over requests and runs: the same services and selectors the pages use, with the token's user."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field, field_validator

from agents.clarification import questions_for
from agents.commit import build_commit, snapshot_estimator
from agents.domains import AgentContext
from agents.llm_parser import parse_request
from agents.preview import request_preview
from agents.router import route
from runs.approval_requests import approval_request_create
from runs.approvals import live_approvals, warnings_to_acknowledge
from runs.models import Run, RunEvent
from runs.selectors import run_gates, run_status_payload, runs_for_user
from runs.services import MAX_REQUEST_CHARS, change_ticket_required, run_create, run_replan
from runs.states import AWAITING_PEOPLE, END_STATES, IN_FLIGHT, RunStatus, label
from tenants.tokens import TokenIdentity

from .plan_digest import plan_digest
from .registry import ConfigArgs, ToolArgs, ToolFailure, tool
from .scope import config_in_scope, run_in_scope

S = RunStatus
DRAFT = "run.create"  # drafting a run: the least role of `generate` and `request`, and their config check
MAX_WAIT_SECONDS = 300
POLL_SECONDS = 1.0
MAX_FINDINGS = 5
WORKING = frozenset({S.QUEUED, *IN_FLIGHT})


def run_brief(run: Run) -> dict[str, Any]:
    """What a model needs to know about a run, in a few hundred bytes."""
    brief: dict[str, Any] = {
        "id": run.pk,
        "status": run.status,
        "status_label": label(run.status),
        "finished": run.status in END_STATES,
        "kind": run.kind,
        "config": run.config.name,
        "env": run.config.env,
        "request": run.request_text[:300],
        "created_at": run.created_at.isoformat() if run.created_at else None,
    }
    if run.belief.get("understood"):
        brief["understood"] = run.belief["understood"]
    if run.status == S.NEEDS_CLARIFICATION:
        brief["questions"] = [
            {"field": q.get("field"), "question": q.get("question"), "options": q.get("options", [])}
            for q in (run.clarification or {}).get("questions", [])
        ]
    if run.plan_summary:
        brief["plan"] = run.plan_summary
    if run.error:
        brief["error"] = run.error.splitlines()[0][:300]
    return brief


def _approval_state(run: Run) -> dict[str, Any]:
    return {
        "required": run.approvals_required,
        "given": live_approvals(run).count() if run.plan_sha256 else 0,
        "deadline": run.approval_deadline.isoformat() if run.approval_deadline else None,
        "change_ticket_required": change_ticket_required(run.config.env),
    }


# --- understanding ---------------------------------------------------------------------------------


class IntentArgs(ConfigArgs):
    text: str = Field(min_length=1, max_length=MAX_REQUEST_CHARS, description="The request, in plain words.")


@tool("nl_intent", action="view", args=IntentArgs)
def nl_intent(identity: TokenIdentity, args: IntentArgs) -> dict[str, Any]:
    """Parse a plain-language infrastructure request into Gantry's intent without creating anything:
    the understood action and resources, the agent that would handle it, open questions, refusals, risks
    and a rough cost. Use before `generate` to check the wording."""
    config = config_in_scope(identity, args.config)
    result = parse_request(args.text, tenant=config.tenant, default_region=config.region)
    intent = result.intent
    answer = route(intent, AgentContext.for_config(config, user=identity.user, estimator=snapshot_estimator))
    commit = build_commit(intent, answer=answer, config=config)
    return {
        "config": config.name,
        "parser": result.parser,
        "intent": intent.to_dict(),
        "agent": answer.agent,
        "status": answer.status,
        "message": answer.message,
        "questions": [q.to_dict() for q in questions_for(intent, config=config)],
        "refusals": list(answer.refusals),
        "commit": commit.to_dict(),
        "notes": list(result.notes) + list(answer.notes),
        "created": False,
    }


# --- runs ------------------------------------------------------------------------------------------


class GenerateArgs(ConfigArgs):
    request: str = Field(
        min_length=1, max_length=MAX_REQUEST_CHARS, description="What to change, in plain words."
    )
    config: str | None = Field(
        None, description="Config name or id (default: your first usable non-prod one)."
    )


@tool("generate", action=DRAFT, args=GenerateArgs, read_only=False)
def generate(identity: TokenIdentity, args: GenerateArgs) -> dict[str, Any]:
    """Create a run from a plain-language request. Gantry renders reviewed Terraform from curated modules
    and runs every gate and `terraform plan` in the background; follow it with `plan` (wait for the plan)
    and `run_status`. When the run needs clarification its questions are returned: send a clearer request."""
    config = config_in_scope(identity, args.config, action=DRAFT)
    run = run_create(user=identity.user, config_id=config.pk, request_text=args.request)
    run = Run.objects.select_related("config").get(pk=run.pk)
    return {"run": run_brief(run), "next_step": _next_step(run)}


class RequestArgs(ConfigArgs):
    text: str = Field(
        min_length=1, max_length=MAX_REQUEST_CHARS, description="Anything you would type in the console."
    )
    config: str | None = Field(
        None, description="Config name or id (default: your first usable non-prod one)."
    )
    wait_seconds: int = Field(
        30, ge=0, le=MAX_WAIT_SECONDS, description="How long to wait for a new run's plan (0: don't wait)."
    )


# Answers that the console shows before submit and that no run could change: nothing is created for them.
NO_RUN_ANSWERS = frozenset({"not_available", "refused"})


@tool("request", action=DRAFT, args=RequestArgs, read_only=False)
def request(identity: TokenIdentity, args: RequestArgs) -> dict[str, Any]:
    """Say anything a user can type in Gantry's console. It is understood and routed to the domain's agent
    exactly as the console does; the answer is that agent's: a run (with its status, plan and approvals)
    for a change, its questions when something is missing, or why it cannot be done (a domain without an
    agent yet, a refused request), in which case nothing is created."""
    config = config_in_scope(identity, args.config, action=DRAFT)
    preview = request_preview(user=identity.user, config=config, text=args.text)
    if preview.intent is None:
        raise ToolFailure(preview.error or "The request could not be understood.", code="invalid")
    answer = preview.answer
    result: dict[str, Any] = {
        "config": config.name,
        "agent": preview.agent or None,
        "answer": answer.status if answer is not None else None,
        "message": answer.message if answer is not None else preview.error,
    }
    if answer is not None and answer.status in NO_RUN_ANSWERS:
        return {
            **result,
            "refusals": list(answer.refusals),
            "intent": answer.intent.to_dict(),
            "created": False,
        }
    run = run_create(user=identity.user, config_id=config.pk, request_text=args.text)
    run = _wait_while_working(run, args.wait_seconds)
    result |= {"created": True, "run": run_brief(run), "next_step": _next_step(run)}
    if run.status in AWAITING_PEOPLE and run.plan_sha256:
        result |= {"plan_sha256": run.plan_sha256, "approvals": _approval_state(run)}
    return result


class RunArgs(ToolArgs):
    run_id: int = Field(ge=1, description="The run's id.")


@tool("validate", action="view", args=RunArgs)
def validate(identity: TokenIdentity, args: RunArgs) -> dict[str, Any]:
    """The run's gate results so far, in gate order (safety, fmt, validate, checkov, opa, cost): each
    gate's status, summary and its first findings; plus the warnings an approver must acknowledge."""
    run = run_in_scope(identity, args.run_id)
    gates = []
    for gate in run_gates(run):
        findings = gate.findings or []
        gates.append(
            {
                "name": gate.name,
                "status": gate.status,
                "summary": gate.summary[:300],
                "findings_count": len(findings),
                "findings": [
                    {
                        key: finding.get(key)
                        for key in ("rule", "severity", "message", "address", "blocking")
                        if finding.get(key) not in (None, "")
                    }
                    for finding in findings[:MAX_FINDINGS]
                ],
                "duration_ms": gate.duration_ms,
            }
        )
    return {
        "run": run_brief(run),
        "gates": gates,
        "complete": run.status not in WORKING,
        "warnings_to_acknowledge": [w.key for w in warnings_to_acknowledge(run)],
    }


class PlanArgs(RunArgs):
    refresh: bool = Field(
        False, description="Plan the same request again as a new run (supersedes a run still waiting)."
    )
    wait_seconds: int = Field(
        30, ge=0, le=MAX_WAIT_SECONDS, description="How long to wait for the plan to finish (0: don't wait)."
    )


@tool("plan", action="run.plan", args=PlanArgs, read_only=False)
def plan(identity: TokenIdentity, args: PlanArgs) -> dict[str, Any]:
    """Get a run's plan: waits (up to wait_seconds) while the run is queued or being planned, then answers
    its status, the plan's add/change/destroy counts and the gate outcome. With refresh=true it plans the
    same request again as a new run (a run waiting for approval is superseded) and waits for that one."""
    run = run_in_scope(identity, args.run_id)
    replaced = None
    if args.refresh:
        replaced = run.pk
        run = run_replan(user=identity.user, run_id=run.pk)
    run = _wait_while_working(run, args.wait_seconds)
    gates = list(run_gates(run).values("name", "status"))
    result: dict[str, Any] = {
        "run": run_brief(run),
        "planning": run.status in WORKING,
        "gates": gates,
        "next_step": _next_step(run),
    }
    if replaced is not None:
        result["replaces"] = replaced
    if run.status in AWAITING_PEOPLE and run.plan_sha256:
        result["plan_sha256"] = run.plan_sha256
        result["approvals"] = _approval_state(run)
    return result


class RequestApplyArgs(RunArgs):
    note: str = Field("", max_length=1000, description="Why this should be applied (shown to approvers).")


@tool("request_apply", action="run.apply", args=RequestApplyArgs, read_only=False)
def request_apply(identity: TokenIdentity, args: RequestApplyArgs) -> dict[str, Any]:
    """Ask people to approve and apply a planned run. Records the request on the run and notifies the
    approvers who have not decided yet. An agent can never approve or apply: approvers approve exactly this
    plan in Gantry, and a person starts the apply."""
    run = run_in_scope(identity, args.run_id)
    request = approval_request_create(user=identity.user, run_id=run.pk, note=args.note)
    run = Run.objects.select_related("config").get(pk=run.pk)
    return {
        "run": run_brief(run),
        "requested": request.created,
        "already_requested": not request.created,
        "approvers_notified": request.notified,
        "approvals": _approval_state(run),
        "warnings_to_acknowledge": [w.key for w in warnings_to_acknowledge(run)],
        "next_step": _next_step(run),
    }


@tool("run_status", action="view", args=RunArgs)
def run_status(identity: TokenIdentity, args: RunArgs) -> dict[str, Any]:
    """A run's current status (from the run record), stage timings, approvals and its latest events."""
    run = run_in_scope(identity, args.run_id)
    events = list(RunEvent.objects.filter(run=run).order_by("-seq")[:5])
    return {
        "run": run_brief(run),
        "progress": run_status_payload(run),
        "approvals": _approval_state(run),
        "events": [
            {
                "at": e.created_at.isoformat(),
                "from": e.from_status,
                "to": e.to_status,
                "message": e.message[:200],
            }
            for e in reversed(events)
        ],
        "next_step": _next_step(run),
    }


class ListRunsArgs(ToolArgs):
    state: Literal["active", "waiting", "finished"] | None = Field(
        None, description="active (queued or in a stage), waiting (on people) or finished."
    )
    status: list[str] = Field(default_factory=list, max_length=20, description="Only these statuses.")
    config: str | None = Field(None, description="Config name or id.")
    limit: int = Field(20, ge=1, le=50)

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(S.values))
        if unknown:
            raise ValueError(f"unknown status {', '.join(unknown)}; use one of {', '.join(S.values)}")
        return value


@tool("list_runs", action="view", args=ListRunsArgs)
def list_runs(identity: TokenIdentity, args: ListRunsArgs) -> dict[str, Any]:
    """The tenant's runs, newest first (the same list as the Runs page)."""
    config_id = config_in_scope(identity, args.config).pk if args.config else None
    qs = runs_for_user(
        identity.user,
        tenant=identity.tenant,
        status=args.status or None,
        config_id=config_id,
        state=args.state,
    )
    runs = list(qs[: args.limit + 1])
    return {
        "runs": [run_brief(run) for run in runs[: args.limit]],
        "count": min(len(runs), args.limit),
        "truncated": len(runs) > args.limit,
    }


class PlanSummaryArgs(RunArgs):
    max_resources: int = Field(40, ge=1, le=200, description="Resources listed at most.")
    max_attributes: int = Field(6, ge=0, le=20, description="Changed attributes shown per resource.")


@tool("plan_summary", action="view", args=PlanSummaryArgs)
def plan_summary(identity: TokenIdentity, args: PlanSummaryArgs) -> dict[str, Any]:
    """A compact digest of a run's plan sized for a model's context: per resource its address, action
    (create/update/delete/replace) and a few changed attributes, sensitive values masked. Not raw output."""
    run = run_in_scope(identity, args.run_id)
    return {
        "run": run_brief(run),
        **plan_digest(run, max_resources=args.max_resources, max_attributes=args.max_attributes),
        "cost": _cost(run),
    }


def _cost(run: Run) -> dict[str, Any] | None:
    """The cost gate's totals (not its per-line detail)."""
    cost = run.cost_estimate or {}
    if not cost.get("totals"):
        return None
    return {"currency": cost.get("currency", "USD"), "totals": cost["totals"], "region": cost.get("region")}


def _wait_while_working(run: Run, seconds: int) -> Run:
    """The run reloaded once it left the queue and its stages, or after `seconds`, whichever is first."""
    deadline = time.monotonic() + seconds
    while run.status in WORKING and time.monotonic() < deadline:
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        run.status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).get()
    return Run.objects.select_related("config").get(pk=run.pk)


def _next_step(run: Run) -> str:
    status = run.status
    if status == S.NEEDS_CLARIFICATION:
        return "Answer the questions: send `request` (or `generate`) a request that says what was missing."
    if status in WORKING:
        return "Planning is under way: call `plan` to wait for it."
    if status == S.AWAITING_APPROVAL:
        return "Review it with `plan_summary` and `validate`, then `request_apply` to ask approvers."
    if status == S.APPROVED:
        return "Approved. A person starts the apply in Gantry; agents cannot apply."
    if status == S.NO_CHANGES:
        return "Nothing to change: the infrastructure already matches the request."
    if status in END_STATES:
        return f"The run ended ({label(status).lower()}); `plan` with refresh=true plans the request again."
    return ""
