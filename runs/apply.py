"""The apply guard: apply exactly what was approved, at most once.

Before an apply starts, `apply_begin` (one transaction, run row locked) re-checks against the run *and*
every live approval, whatever the engine: the stored plan document's sha256 (recomputed from storage), the
source's sha256 (recomputed by the run's engine from the stored source), the spec's sha256 (recomputed from the stored spec), the config's
current version and the gate digest; plus the approval count and window. Any difference moves the run to
`stale` (or `expired`) with the reasons. Passing inserts an `AppliedPlan` row (unique per workspace and
plan sha256, one per run) and moves the run to `applying` in the same transaction: a second delivery of the
apply task finds the run no longer `approved` (or the lease taken) and does nothing.
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import artifacts
from .engines import engine_for
from .models import AppliedPlan, ArtifactKind, Run
from .services import spec_digest, transition
from .states import RunStatus

S = RunStatus


class ApplyRefused(Exception):
    def __init__(self, reasons: list[str], *, status: str = S.STALE) -> None:
        self.reasons, self.status = reasons, status
        super().__init__("Apply refused: " + "; ".join(reasons))


def _stored_digest(run: Run, kind: str) -> str | None:
    artifact = artifacts.latest(run, kind)
    if artifact is None:
        return None
    try:
        return artifacts.artifact_sha256(artifact)
    except OSError:
        return None


def _source_reasons(run: Run) -> list[str]:
    """The stored source must still be what was planned and approved: its file against its own row, and
    the engine's digest of its content against the run's `source_sha256` (the approvals are compared
    with the run below), so a consistently rewritten archive is refused too."""
    archive = artifacts.latest(run, ArtifactKind.SOURCE_ARCHIVE)
    if archive is None:
        return ["the stored source is missing"]
    try:
        data = artifacts.artifact_read(archive)
    except OSError:
        return ["the stored source cannot be read"]
    if hashlib.sha256(data).hexdigest() != archive.sha256:
        return ["the stored source was altered"]
    try:
        digest = engine_for(run.engine).source_digest(data)
    except Exception:
        digest = ""
    if digest != run.source_sha256:
        return ["the stored source is not the planned source"]
    return []


def check_apply(run: Run, *, now=None) -> None:
    """Raise ApplyRefused unless `run` may be applied now exactly as approved."""
    from .approvals import live_approvals

    now = now or timezone.now()
    if run.approval_deadline is not None and run.approval_deadline <= now:
        raise ApplyRefused(["the approval window has passed"], status=S.EXPIRED)

    reasons: list[str] = []
    if not run.plan_sha256:
        reasons.append("the run has no plan")
    stored_plan = _stored_digest(run, ArtifactKind.PLAN_FILE)
    if stored_plan is None:
        reasons.append("the stored plan file is missing")
    elif stored_plan != run.plan_sha256:
        reasons.append("the stored plan file does not match the planned sha256")
    if run.source_sha256:
        reasons += _source_reasons(run)
    if run.spec and run.spec_sha256 and spec_digest(run.spec) != run.spec_sha256:
        reasons.append("the stored spec does not match its sha256")
    current_version = (
        type(run.config).objects.filter(pk=run.config_id).values_list("version", flat=True).first()
    )
    if current_version != run.config_version:
        reasons.append(
            f"config {run.config.name} changed since the plan (v{run.config_version} → v{current_version})"
        )

    approvals = list(live_approvals(run))
    if len(approvals) < run.approvals_required:
        reasons.append(f"{len(approvals)} of {run.approvals_required} approvals are still valid")
    for approval in approvals:
        who = f"approval #{approval.pk}"
        if approval.plan_sha256 != run.plan_sha256 or (stored_plan and approval.plan_sha256 != stored_plan):
            reasons.append(f"{who} was given for another plan file")
        if approval.spec_sha256 != run.spec_sha256:
            reasons.append(f"{who} was given for another spec")
        if approval.source_sha256 != run.source_sha256:
            reasons.append(f"{who} was given for other rendered source")
        if approval.config_version != current_version:
            reasons.append(f"{who} was given for config v{approval.config_version}, now v{current_version}")
        if approval.gate_digest != run.gate_digest:
            reasons.append(f"{who} was given for other gate results")
    if reasons:
        raise ApplyRefused(list(dict.fromkeys(reasons)))


def apply_begin(run_id: int, *, lease: str, world_changes: list[str] | None = None) -> Run | None:
    """Check and start the apply in one transaction; raises ApplyRefused after moving the run to
    stale/expired. None (nothing done) when the run is no longer approved or the lease is not `lease`.
    `world_changes` are the engine's reasons the account no longer matches the plan (stale).
    The caller holds the worker lease and the workspace lock."""
    refused: ApplyRefused | None = None
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status != S.APPROVED or run.worker_lease != lease:
            return None
        try:
            check_apply(run)
            if world_changes:
                raise ApplyRefused([f"changed since the plan: {change}" for change in world_changes])
            with transaction.atomic():
                AppliedPlan.objects.create(
                    tenant_id=run.tenant_id,
                    run=run,
                    workspace_key=run.workspace_key,
                    plan_sha256=run.plan_sha256,
                )
        except ApplyRefused as exc:
            refused = exc
        except IntegrityError:
            refused = ApplyRefused(["this plan has already been applied"])
        if refused is not None:
            transition(
                run.pk,
                refused.status,
                message="; ".join(refused.reasons),
                data={"reasons": refused.reasons},
                expect_from=S.APPROVED,
                error="Apply refused: " + "; ".join(refused.reasons),
                error_category=str(refused.status),
                worker_lease="",
                lease_expires_at=None,
            )
        else:
            run = transition(
                run.pk,
                S.APPLYING,
                message="Apply started",
                data={"plan_sha256": run.plan_sha256},
                expect_from=S.APPROVED,
                apply_started_at=timezone.now(),
            )
    if refused is not None:
        raise refused
    return run


# --- after the apply: outputs -----------------------------------------------------------------------


class OutputsError(Exception):
    """`terraform output` failed; the message is redacted and safe to show."""


def read_outputs(workdir, *, env: dict[str, str]) -> dict[str, dict]:
    """The applied state's outputs from `terraform output -json`, as {name: {"value", "sensitive",
    "type"}}. Sensitive outputs keep only their flag (the value is masked); the others go through the
    run's redactor, which also masks secret-shaped values the module did not mark (invariant 9)."""
    import json

    from iac.redaction import MASK
    from iac.terraform import TerraformRunner

    runner = TerraformRunner(workdir, env=env)
    # The runner has no `output` command of its own; `_run` gives the same process handling and errors.
    result, lines = runner._run(["output", "-json", "-no-color"], keep_raw_stdout=True, stream=False)
    if not result.ok:
        raise OutputsError(result.message or "terraform output failed")
    try:
        raw = json.loads("\n".join(lines) or "{}")
    except json.JSONDecodeError as exc:
        raise OutputsError("terraform output printed no JSON") from exc
    outputs: dict[str, dict] = {}
    for name, item in sorted((raw or {}).items()):
        sensitive = bool(item.get("sensitive"))
        value = MASK if sensitive else runner.redactor.redact_json(item.get("value"))
        outputs[name] = {"value": value, "sensitive": sensitive, "type": item.get("type")}
    return outputs
