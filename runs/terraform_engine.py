"""The `terraform` engine: runs/'s adapter over iac/ (renderer, gates, runner).

Plan: the composition spec → `iac.pipeline.run_pipeline` (or the destroy / refresh-only variants) → the
plan file as the plan document, the rendered source as a tar archive, the redacted plan JSON and text, the
gate and cost reports. Apply: the plan's work dir (or one rebuilt from the stored, verified artifacts) →
`terraform apply plan.tfplan`, the state refresh that records what the apply caused, the outputs.
Drift runs are refresh-only plans whose summary says what drifted.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import tarfile
from pathlib import Path
from typing import Any

from django.utils import timezone

from iac.gates.base import gate_digest
from tenants.aws import is_transient

from . import artifacts
from .drift import REFRESHED_AFTER_APPLY, drift_fields, state_refresh_after_apply
from .engines import ApplyJob, ApplyOutcome, PlanJob, PlanOutcome, PlanStatus, StoredArtifact, workdir_for
from .models import ArtifactKind, Run, RunKind
from .services import canonical_json, run_note

logger = logging.getLogger(__name__)

PLAN_FILE = "plan.tfplan"
LOCK_FILE = ".terraform.lock.hcl"
# Pipeline stages that belong to `validating` (everything before terraform plan).
CODE_STAGES = {"render", "credentials", "state_backend", "safety", "fmt", "validate", "checkov_code"}
_STAGE_STATUS = {"ok": "passed", "blocked": "failed", "failed": "error", "cancelled": "error"}


def _pipeline():
    """`iac.pipeline`, looked up when needed (tests replace this function)."""
    from iac import pipeline

    return pipeline


def _request_budget(run: Run):
    budget = (run.intent or {}).get("budget")
    if not budget:
        return None
    try:
        from iac.gates.cost import Budget

        period = budget.get("period", "month")
        period = "day" if period in ("day", "hour") else "month"
        return Budget(budget["amount"], budget.get("currency", "USD"), period)
    except Exception:
        logger.warning("run #%s: budget %r not usable", run.pk, budget)
        return None


def _plan_function(run: Run, pipeline):
    """The plan a run's kind calls for: a change (or reconcile) plan, a destroy plan, a refresh-only
    plan for a drift check."""
    from . import plan_variants

    if run.kind == RunKind.DESTROY:
        return plan_variants.destroy_plan
    if run.kind == RunKind.DRIFT:
        return plan_variants.refresh_plan
    return pipeline.run_pipeline


def source_archive(workdir: Path, files: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in sorted({*files, LOCK_FILE}):
            path = workdir / name
            if path.is_file():
                archive.add(path, arcname=name, recursive=False)
    return buffer.getvalue()


def plan_summary(plan_json: dict | None) -> dict[str, int]:
    summary = {"add": 0, "change": 0, "destroy": 0, "replace": 0}
    for change in (plan_json or {}).get("resource_changes", []) or []:
        actions = (change.get("change") or {}).get("actions") or []
        if actions == ["create"]:
            summary["add"] += 1
        elif actions == ["update"]:
            summary["change"] += 1
        elif actions == ["delete"]:
            summary["destroy"] += 1
        elif sorted(actions) == ["create", "delete"]:
            summary["replace"] += 1
    return summary


def _stage_timings(result) -> dict[str, Any]:
    timings = {
        stage.name: {"status": _STAGE_STATUS.get(stage.status, stage.status), "ms": stage.duration_ms}
        for stage in result.stages
    }
    timings["pipeline_total"] = {"status": result.status, "ms": result.total_ms}
    return timings


class TerraformEngine:
    name = "terraform"
    stales_siblings = True

    # --- plan ------------------------------------------------------------------------------------

    def plan(self, job: PlanJob) -> PlanOutcome:
        from iac.composed import parse_spec
        from iac.stage_events import StageCancelled

        run, pipeline = job.run, _pipeline()
        spec = parse_spec(run.spec)
        try:
            result = _plan_function(run, pipeline)(
                spec,
                account=job.config.account,
                config=job.config,
                workdir=job.workdir,
                on_line=job.on_line,
                request_budget=_request_budget(run),
                cancel_event=job.cancel_event,
                run_id=run.pk,
                on_stage=job.on_stage,
            )
        except StageCancelled:
            return PlanOutcome(PlanStatus.CANCELLED)
        if result.status == "cancelled":
            return PlanOutcome(PlanStatus.CANCELLED)
        return self._outcome(run, result, job.workdir)

    def _outcome(self, run: Run, result, workdir: Path) -> PlanOutcome:

        gates = [g.to_dict() if hasattr(g, "to_dict") else dict(g) for g in result.gates]
        outcome = PlanOutcome(
            status=PlanStatus.FAILED,
            gates=gates,
            gate_digest=result.gate_digest or gate_digest(gates),
            source_sha256=result.source_sha256,
            plan_sha256=result.plan_sha256 or "",
            has_changes=result.changes,
            plan_summary=plan_summary(result.plan_json_redacted),
            error=result.error or "",
            error_category=result.error_category or "",
            stage_timings=_stage_timings(result),
            artifacts=self._artifacts(result, gates, workdir),
            transient=result.status == "failed" and is_transient(result.error),
        )
        cost = next((g for g in gates if g.get("name") == "cost"), None)
        if cost is not None:
            outcome.cost_estimate = cost.get("details") or {}
        if result.spec_sha256 and run.spec_sha256 and result.spec_sha256 != run.spec_sha256:
            outcome.message, outcome.stopped_at = "Spec changed", "code"
            outcome.error = "The planned spec does not match the run's spec."
            outcome.error_category = "integrity"
            return outcome

        status, drift_message = result.status, ""
        if run.kind == RunKind.DRIFT and status in ("passed", "no_changes"):
            drift_message, drift = drift_fields(run, result, summary=outcome.plan_summary)
            outcome.plan_summary = drift.pop("plan_summary")
            outcome.fields.update(drift)
            if not outcome.plan_summary["drifted"]:
                status = "no_changes"  # only outputs differ (refresh-only exit 2): no resource drifted
        if status == "passed":
            outcome.status, outcome.message = PlanStatus.PASSED, drift_message or "Plan ready for approval"
        elif status == "no_changes":
            outcome.status, outcome.message = PlanStatus.NO_CHANGES, drift_message or "No changes"
        elif status == "blocked":
            outcome.status = PlanStatus.BLOCKED
            outcome.stopped_at = "code" if result.blocked_by in CODE_STAGES else "gates"
            outcome.message = f"Blocked by the {result.blocked_by} gate"
            outcome.error = outcome.error or outcome.message
            outcome.error_category = "gate"
        else:
            failed_stage = next((s.name for s in result.stages if s.status == "failed"), "")
            outcome.stopped_at = "code" if failed_stage in CODE_STAGES or not failed_stage else "plan"
            outcome.message = f"Failed at {failed_stage or 'an unknown stage'}"
            outcome.error = outcome.error or outcome.message
            outcome.error_category = outcome.error_category or "terraform"
        return outcome

    def _artifacts(self, result, gates: list[dict], workdir: Path) -> list[StoredArtifact]:
        kept: list[StoredArtifact] = []
        if result.render is not None:
            archive = source_archive(workdir, list(result.render.files))
            kept.append(StoredArtifact(ArtifactKind.SOURCE_ARCHIVE, archive, "source.tar.gz"))
        if result.plan_file and Path(result.plan_file).is_file():
            kept.append(StoredArtifact(ArtifactKind.PLAN_FILE, Path(result.plan_file), plan_document=True))
        if result.plan_json_redacted is not None:
            content = canonical_json(result.plan_json_redacted)
            kept.append(StoredArtifact(ArtifactKind.PLAN_JSON_REDACTED, content, "plan.json"))
        if result.plan_text:
            kept.append(StoredArtifact(ArtifactKind.PLAN_TEXT, result.plan_text, "plan.txt"))
        report = result.to_dict() if hasattr(result, "to_dict") else {"gates": gates}
        kept.append(StoredArtifact(ArtifactKind.GATE_REPORT, canonical_json(report), "gates.json"))
        cost = next((g for g in gates if g.get("name") == "cost"), None)
        if cost is not None:
            kept.append(StoredArtifact(ArtifactKind.COST_REPORT, canonical_json(cost), "cost.json"))
        return kept

    def source_digest(self, stored: bytes) -> str:
        """The rendered source's digest (`iac.renderer.source_digest`) recomputed from the archive's
        files, so a rewritten archive cannot pass for the approved source."""
        from iac.renderer import source_digest

        files: dict[str, str] = {}
        with tarfile.open(fileobj=io.BytesIO(stored), mode="r:gz") as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name != LOCK_FILE:
                    data = archive.extractfile(member).read()
                    files[member.name] = hashlib.sha256(data).hexdigest()
        return source_digest(files)

    # --- apply -----------------------------------------------------------------------------------

    def page(self, run: Run) -> None:
        return None  # the run page's own plan diff, drift and outputs sections are Terraform's

    def recheck(self, run: Run) -> list[str]:
        return []  # Terraform itself refuses a saved plan whose state moved on

    def apply(self, job: ApplyJob) -> ApplyOutcome:
        from iac.composed import parse_spec

        run, pipeline = job.run, _pipeline()
        spec = parse_spec(run.spec)
        workdir = _prepare_apply_workdir(run, pipeline, spec)
        result = pipeline.apply_plan(
            workdir,
            PLAN_FILE,
            run.plan_sha256,
            account=run.config.account,
            region=spec.region,
            run_id=run.pk,
            on_line=job.on_line,
        )
        outcome = ApplyOutcome(ok=bool(result.ok), duration_ms=getattr(result, "duration_ms", 0) or 0)
        if not outcome.ok:
            outcome.error = result.message or "terraform apply failed"
            outcome.error_category = str(result.category or "terraform")
            return outcome
        env = pipeline.terraform_env(run.config.account, spec.region, run_id=run.pk)
        if run.kind in REFRESHED_AFTER_APPLY:
            # Still under the workspace lock: record what this apply caused (see the function).
            outcome.stage_timings["refresh"] = state_refresh_after_apply(
                run, workdir, env=env, on_line=job.on_line
            )
        outcome.fields["outputs"] = _outputs_after_apply(run, workdir, env, outcome.stage_timings)
        return outcome


def _prepare_apply_workdir(run: Run, pipeline, spec) -> Path:
    """The plan's work dir when it is still on this machine with the same plan, else rebuilt from the
    stored source archive and plan file (verified) and `terraform init`."""
    from iac.terraform import TerraformRunner, sha256_file

    workdir = workdir_for(run)
    plan = workdir / PLAN_FILE
    if plan.is_file() and (workdir / ".terraform").is_dir() and sha256_file(plan) == run.plan_sha256:
        return workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    archive = artifacts.latest(run, ArtifactKind.SOURCE_ARCHIVE)
    plan_artifact = artifacts.latest(run, ArtifactKind.PLAN_FILE)
    if archive is None or plan_artifact is None:
        raise FileNotFoundError("the stored source or plan file is missing")
    data = artifacts.artifact_read(archive)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(workdir, filter="data")
    artifacts.artifact_copy_to(plan_artifact, plan)
    env = pipeline.terraform_env(run.config.account, spec.region, run_id=run.pk)
    init = TerraformRunner(workdir, env=env).init()
    if not init.ok:
        raise RuntimeError(f"terraform init failed: {init.message}")
    return workdir


def _outputs_after_apply(run: Run, workdir: Path, env: dict[str, str], timings: dict) -> dict[str, Any]:
    """`terraform output -json` of the applied state, sensitive values masked. The apply already
    happened, so a failure here is noted on the run, never turned into a failed apply."""
    from .apply import OutputsError, read_outputs

    started = timezone.now()
    try:
        outputs = read_outputs(workdir, env=env)
    except OutputsError as exc:
        run_note(run.pk, f"Applied, but the outputs could not be read: {exc}")
        outputs, status = {}, "error"
    else:
        status = "passed"
    ms = int((timezone.now() - started).total_seconds() * 1000)
    timings["outputs"] = {"status": status, "started": started.isoformat(), "ms": ms}
    return outputs
