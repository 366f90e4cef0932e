"""The two plans that are not a change plan: a destroy plan and a read-only refresh (drift) plan.

Both reuse `iac.pipeline.run_pipeline` for everything up to `terraform init` (render, the safety gate
before init, fmt, init/validate, checkov on the code), so invariant 6 holds unchanged, then run their own
`terraform plan` in the same work dir and return a `PipelineResult` that `runs.worker` records exactly
like a change plan's (artifacts, gate results, digests, approval).

- destroy: `plan -destroy -out`, then OPA and the cost gate on its JSON (policies may protect resources
  from deletion; the cost delta shows what stops being paid for). Checkov (plan) has nothing to scan in
  a plan that creates nothing, so it is not run (and not reported as passed).
- refresh-only: `plan -refresh-only -detailed-exitcode -out`; exit 2 means the real resources differ
  from the state: drift. `drifted_resources` turns the plan's `resource_drift` into per-resource,
  per-attribute differences with sensitive values masked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iac.pipeline import PLAN_FILE, PipelineResult, PipelineStatus, Stage, gate_digest, plan_text
from iac.redaction import MASK, Redactor, run_redactor
from iac.stage_events import StageCallback, StageEvents

DESTROY_CODE_STAGES = ("render", "safety", "fmt", "validate", "checkov_code")
# A drift check plans code that was already gated and applied: render, safety (always) and init.
REFRESH_CODE_STAGES = ("render", "safety", "validate")
DESTROY_STAGES = (*DESTROY_CODE_STAGES, "plan", "show_json", "opa", "cost")
REFRESH_STAGES = (*REFRESH_CODE_STAGES, "plan", "show_json")


def _pipeline():
    from iac import pipeline

    return pipeline


def _code_stages(
    spec, *, stages: tuple[str, ...], on_stage: StageCallback | None, **kwargs: Any
) -> PipelineResult:
    """run_pipeline limited to the code stages; the stages this module runs itself are not forwarded
    (run_pipeline reports them as skipped, "not requested")."""

    def forward(stage: str, status: str, info: dict) -> None:
        if on_stage is not None and stage in stages:
            on_stage(stage, status, info)

    return _pipeline().run_pipeline(spec, stages=stages, on_stage=forward, **kwargs)


def _plan(
    spec,
    *,
    kind: str,
    account,
    config,
    workdir: Path,
    on_line: Callable[[str], None] | None,
    cancel_event,
    run_id: int | None,
    on_stage: StageCallback | None,
    request_budget=None,
) -> PipelineResult:
    pipeline = _pipeline()
    code_stages = DESTROY_CODE_STAGES if kind == "destroy" else REFRESH_CODE_STAGES
    redactor = run_redactor()
    overall = time.perf_counter()
    result = _code_stages(
        spec,
        stages=code_stages,
        on_stage=on_stage,
        account=account,
        config=config,
        workdir=workdir,
        on_line=on_line,
        cancel_event=cancel_event,
        run_id=run_id,
        redactor=redactor,
    )
    if result.status != PipelineStatus.PASSED:
        return result
    events = StageEvents(on_stage, ("plan", "show_json", *(("opa", "cost") if kind == "destroy" else ())))

    def stage(name: str, start: float, status: str = "ok", detail: str = "", gate=None) -> None:
        entry = Stage(name, status, int((time.perf_counter() - start) * 1000), detail)
        result.stages.append(entry)
        events.end_stage(
            name,
            status,
            duration_ms=entry.duration_ms,
            summary=detail,
            gate=gate.to_dict() if gate is not None else None,
        )

    def finish(status: str, error: str = "", category: str | None = None) -> PipelineResult:
        result.status, result.error, result.error_category = status, error, category
        result.gate_digest = gate_digest(result.gates)
        result.total_ms = int((time.perf_counter() - overall) * 1000)
        events.skip_pending(error or status, cut_short="error")
        return result

    from iac.terraform import Category, TerraformRunner

    runner = TerraformRunner(
        workdir,
        env=pipeline.terraform_env(account, spec.region, run_id=run_id),
        on_line=None,
        cancel_event=cancel_event,
        redactor=redactor,
    )
    lines: list[str] = []

    def collect(line: str) -> None:
        lines.append(line)
        if on_line is not None:
            on_line(line)

    runner.on_line = collect
    events.start("plan")
    start = time.perf_counter()
    plan = runner.plan(PLAN_FILE, destroy=kind == "destroy", refresh_only=kind == "refresh")
    runner.on_line = on_line
    result.terraform["plan"] = plan.to_dict()
    result.plan_text = plan_text(lines)
    if not plan.ok:
        stage("plan", start, "failed", plan.message)
        cancelled = plan.category == Category.CANCELLED
        return finish(
            PipelineStatus.CANCELLED if cancelled else PipelineStatus.FAILED,
            plan.message or "plan failed",
            str(plan.category) if plan.category else None,
        )
    result.changes = plan.changes
    result.plan_file, result.plan_sha256 = str(workdir / PLAN_FILE), plan.plan_sha256
    stage("plan", start, detail=("changes" if plan.changes else "no changes") + f" ({kind} plan)")

    events.start("show_json")
    start = time.perf_counter()
    shown = runner.show_json(PLAN_FILE)
    if not shown.ok:
        stage("show_json", start, "failed", shown.message)
        return finish(PipelineStatus.FAILED, shown.message, str(shown.category or "error"))
    result.plan_json = shown.json
    result.plan_json_redacted = redact_plan(shown.json, redactor)
    stage("show_json", start)
    if not plan.changes:
        return finish(PipelineStatus.NO_CHANGES)
    if kind == "destroy":
        blocked = _destroy_gates(result, stage, events, account=account, config=config, spec=spec,
                                 request_budget=request_budget)  # fmt: skip
        if blocked:
            result.blocked_by = blocked
            return finish(PipelineStatus.BLOCKED, f"Blocked by the {blocked} gate")
    return finish(PipelineStatus.PASSED)


def _destroy_gates(result, stage, events, *, account, config, spec, request_budget) -> str | None:
    """OPA then cost on the destroy plan, in gate order; returns the blocking gate's name."""
    from iac.gates.base import Status
    from iac.gates.cost import cost_gate
    from iac.gates.opa import opa_gate
    from iac.policy_data import policy_data

    checks = (
        ("opa", lambda: opa_gate(result.plan_json, policy_data(account=account, config=config,
                                                               region=spec.region))),
        ("cost", lambda: cost_gate(result.plan_json, region=spec.region, request_budget=request_budget,
                                   account_daily_limit=account.daily_budget,
                                   account_monthly_limit=account.monthly_budget,
                                   currency=account.budget_currency or "USD")),
    )  # fmt: skip
    for name, check in checks:
        events.start(name)
        start = time.perf_counter()
        gate = check()
        result.gates.append(gate)
        failed = gate.status == Status.FAIL
        stage(name, start, "blocked" if failed else "ok", gate.summary, gate)
        if failed:
            return name
    return None


def destroy_plan(spec, **kwargs: Any) -> PipelineResult:
    """Code gates, then `terraform plan -destroy` and the policy and cost gates on it."""
    return _plan(spec, kind="destroy", **kwargs)


def refresh_plan(spec, **kwargs: Any) -> PipelineResult:
    """Render, safety and init, then `terraform plan -refresh-only`: changes mean drift."""
    kwargs.pop("request_budget", None)
    return _plan(spec, kind="refresh", **kwargs)


# --- plan JSON: redaction of drift, and per-resource differences ------------------------------------


def redact_plan(plan: dict, redactor: Redactor | None = None) -> dict:
    """`iac.pipeline.redact_plan_json`, plus `resource_drift` (same shape as `resource_changes`, which
    that function masks by the provider's sensitive marks)."""
    pipeline = _pipeline()
    redactor = redactor or run_redactor()
    doc = pipeline.redact_plan_json(plan, redactor)
    if plan.get("resource_drift"):
        doc["resource_drift"] = pipeline.redact_plan_json(
            {"resource_changes": plan["resource_drift"]}, redactor
        )["resource_changes"]
    return doc


def _changed_paths(before: Any, after: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[tuple] = []
        for key in sorted(set(before) | set(after), key=str):
            out += _changed_paths(before.get(key), after.get(key), (*path, key))
        return out
    return [] if before == after else [path]


def _at(value: Any, path: tuple) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def drifted_resources(plan: dict, plan_redacted: dict) -> list[dict[str, Any]]:
    """What changed outside Terraform, per resource: address, type, actions and the attributes whose
    values differ. Which attributes differ is decided on the raw plan (a changed secret is still a
    change); the values shown come from the redacted plan, so masked values stay masked."""
    drifted = []
    raw_items = plan.get("resource_drift") or []
    shown_items = plan_redacted.get("resource_drift") or []
    for raw, shown in zip(raw_items, shown_items, strict=False):
        change, visible = raw.get("change") or {}, shown.get("change") or {}
        actions = list(change.get("actions") or [])
        before, after = change.get("before"), change.get("after")
        if actions == ["delete"] or after is None:
            differences = [{"attribute": "(resource)", "before": "exists", "after": "deleted"}]
        else:
            differences = [
                {
                    "attribute": ".".join(str(p) for p in path) or "(value)",
                    "before": _at(visible.get("before"), path),
                    "after": _at(visible.get("after"), path),
                }
                for path in _changed_paths(before or {}, after or {})
            ]
        drifted.append(
            {
                "address": shown.get("address", ""),
                "type": shown.get("type", ""),
                "name": shown.get("name", ""),
                "actions": actions,
                "id": str(_at(visible.get("before"), ("id",)) or _at(visible.get("after"), ("id",)) or ""),
                "differences": differences[:100],
                "masked": any(MASK in str(d["before"]) + str(d["after"]) for d in differences),
            }
        )
    return drifted
