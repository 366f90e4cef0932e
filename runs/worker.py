"""What the Celery workers do with a run: generate (agents queue), plan (plan queue), apply (apply queue).

Each entry point takes ids, reloads the run, refuses another tenant's ids, takes the run's worker lease with
a conditional UPDATE (a duplicate delivery then does nothing) and moves the run through `transition`. A
heartbeat thread keeps `heartbeat_at`/the lease fresh while a stage runs and notices cancellation. The
Terraform side is `iac.pipeline` (`run_pipeline`, `apply_plan`).
"""

from __future__ import annotations

import collections
import io
import logging
import shutil
import tarfile
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from tenants.aws import is_transient

from . import artifacts, locks
from .apply import ApplyRefused, apply_begin
from .drift import REFRESHED_AFTER_APPLY, state_refresh_after_apply
from .models import ArtifactKind, GateResult, Run, RunKind
from .services import (
    _create_run,
    _understand,
    canonical_json,
    gate_digest,
    lease_acquire,
    lease_release,
    lease_renew,
    run_note,
    spec_digest,
    transition,
)
from .states import END_STATES, IllegalTransition, RunStatus, precedes

logger = logging.getLogger(__name__)
S = RunStatus

PLAN_FILE = "plan.tfplan"
# Pipeline stages that belong to `validating` (everything before terraform plan).
CODE_STAGES = {"render", "credentials", "state_backend", "safety", "fmt", "validate", "checkov_code"}
GATE_ORDER = ("safety", "fmt", "validate", "checkov_code", "opa", "checkov_plan", "cost")


class TenantMismatch(Exception):
    """A task was given ids of a run that belongs to another tenant than the one it was sent for."""


class TransientError(Exception):
    """AWS throttled or the connection dropped: the plan stage may be retried from scratch."""


def _pipeline():
    """`iac.pipeline`, looked up when needed (tests replace this function)."""
    from iac import pipeline

    return pipeline


def work_root() -> Path:
    return Path(getattr(settings, "GANTRY_WORK_ROOT", Path(settings.VAR_DIR) / "work"))


def workdir_for(run: Run) -> Path:
    return work_root() / f"run-{run.pk}"


def load_run(run_id: int, tenant_id: int | None) -> Run | None:
    """The run, or None when it is gone; TenantMismatch when it belongs to another tenant."""
    run = Run.objects.select_related("tenant", "config", "config__account").filter(pk=run_id).first()
    if run is None:
        return None
    if tenant_id is not None and run.tenant_id != int(tenant_id):
        raise TenantMismatch(f"run #{run_id} does not belong to tenant {tenant_id}")
    return run


# --- heartbeat and logs ------------------------------------------------------------------------------


class LogTail:
    """The last lines of a stage's (already redacted) output, kept for the run row."""

    def __init__(self, lines: int = 200) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.all: list[str] = []
        self._lock = threading.Lock()
        self.version = 0

    def __call__(self, line: str) -> None:
        with self._lock:
            self.lines.append(line.rstrip("\n"))
            self.all.append(line.rstrip("\n"))
            self.version += 1

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def full(self) -> str:
        with self._lock:
            return "\n".join(self.all)


def heartbeat_seconds() -> float:
    return float(getattr(settings, "GANTRY_HEARTBEAT_SECONDS", 10))


class Heartbeat:
    """While a stage runs: refresh `heartbeat_at` and the lease, flush the log tail, and set
    `cancel_event` when the run was cancelled or the lease lost. Interval 0 disables the thread (tests
    call `beat()` directly)."""

    def __init__(
        self,
        run_id: int,
        token: str,
        *,
        cancel_event: threading.Event | None = None,
        log: LogTail | None = None,
        interval: float | None = None,
    ) -> None:
        self.run_id, self.token = run_id, token
        self.cancel_event, self.log = cancel_event, log
        self.interval = heartbeat_seconds() if interval is None else interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flushed = -1

    def beat(self) -> bool:
        fields: dict[str, Any] = {}
        version = self.log.version if self.log is not None else self._flushed
        if version != self._flushed:
            fields["log_tail"] = self.log.text()
        alive = lease_renew(self.run_id, self.token, **fields)
        self._flushed = version  # only once written: a failed beat must not lose the log tail
        status = Run.objects.filter(pk=self.run_id).values_list("status", flat=True).first()
        if (not alive or status == S.CANCELLED) and self.cancel_event is not None:
            self.cancel_event.set()
        return alive

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # the database blinked; the next beat tries again
                    logger.warning("heartbeat for run #%s failed", self.run_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        if self.interval > 0:
            self._thread = threading.Thread(
                target=self._loop, name=f"heartbeat-run-{self.run_id}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.interval * 2))


# Pipeline stages that move the run on when they start (the plan, then the policy gates after it).
STATUS_WHEN_STARTED = {
    "plan": S.PLANNING,
    "show_json": S.PLANNING,
    "opa": S.POLICY_CHECK,
    "checkov_plan": S.POLICY_CHECK,
    "cost": S.POLICY_CHECK,
}


class StageRecorder:
    """The pipeline's `on_stage` callback: writes each stage's status and duration to the run row as it
    happens (`stage_timings[stage] = {"status", "started", "ms"}`) and moves the run validating →
    planning → policy_check when the plan, then the first policy gate, starts (RunEvent and audit event
    through `transition`). A lost lease or a cancelled run raises StageCancelled, which stops the
    pipeline."""

    def __init__(self, run_id: int, token: str, timings: dict | None = None) -> None:
        self.run_id, self.token = run_id, token
        self.timings: dict[str, Any] = dict(timings or {})

    def __call__(self, stage: str, status: str, info: dict) -> None:
        from iac.stage_events import StageCancelled

        if status == "started":
            entry = {"status": "running", "started": timezone.now().isoformat()}
        else:
            entry = {**self.timings.get(stage, {}), "status": status, "ms": int(info.get("duration_ms") or 0)}
        self.timings[stage] = entry
        target = STATUS_WHEN_STARTED.get(stage) if status == "started" else None
        if not self._write(target):
            raise StageCancelled(f"run #{self.run_id} was cancelled or lost its lease")

    def _write(self, target: str | None) -> bool:
        with transaction.atomic():
            run = Run.objects.select_for_update().only("status", "worker_lease").get(pk=self.run_id)
            if run.worker_lease != self.token or run.status in END_STATES:
                return False
            status = run.status
            for step in (S.PLANNING, S.POLICY_CHECK):
                if target is not None and precedes(status, step) and not precedes(target, step):
                    label = step.replace("_", " ").capitalize()
                    transition(self.run_id, step, message=label, expect_from=status)
                    status = step
            Run.objects.filter(pk=self.run_id).update(stage_timings=self.timings)
        return True

    def merged(self, result) -> dict[str, Any]:
        """The live timings, completed from the result for stages that were never announced."""
        timings = dict(self.timings)
        for stage in result.stages:
            if stage.name not in timings or timings[stage.name].get("status") == "running":
                timings[stage.name] = {"status": _STAGE_STATUS.get(stage.status, stage.status),
                                       "ms": stage.duration_ms}  # fmt: skip
        timings["pipeline_total"] = {"status": result.status, "ms": result.total_ms}
        return timings


_STAGE_STATUS = {"ok": "passed", "blocked": "failed", "failed": "error", "cancelled": "error"}


def _timing(ms: int, status: str = "passed") -> dict[str, Any]:
    return {"status": status, "ms": ms}


def _dispatch_later(name: str, run: Run, countdown: int) -> None:
    from . import tasks

    tasks.dispatch(name, run_id=run.pk, tenant_id=run.tenant_id, countdown=countdown)


def _note_once(run: Run, message: str) -> None:
    last = run.events.order_by("-seq").values_list("message", flat=True).first()
    if last != message:
        run_note(run.pk, message)


def _cleanup_after_stop(run_id: int, token: str) -> None:
    """The run ended under the worker (cancelled): drop the lease, release the lock."""
    lease_release(run_id, token)
    run = Run.objects.filter(pk=run_id).first()
    if run is not None and run.status in END_STATES and run.status != S.INTERRUPTED:
        locks.release_for_run(run)


# --- generating (agents queue) ----------------------------------------------------------------------


def run_generate(run_id: int, *, tenant_id: int | None = None) -> str:
    """queued → generating → validating (then the plan queue), or needs_clarification/blocked/failed."""
    from .services import lock_retry_seconds

    run = load_run(run_id, tenant_id)
    if run is None or run.status != S.QUEUED:
        return "noop"
    try:
        locks.acquire(run, purpose="plan")
    except locks.WorkspaceBusy as busy:
        _note_once(run, f"Waiting: {busy}")
        _dispatch_later("run_generate", run, lock_retry_seconds())
        return "busy"
    token = lease_acquire(run.pk, statuses=[S.QUEUED])
    if token is None:
        return "noop"
    try:
        transition(run.pk, S.GENERATING, message="Generating Terraform", expect_from=S.QUEUED)
    except IllegalTransition:
        _cleanup_after_stop(run.pk, token)
        return "noop"
    started = timezone.now()
    try:
        with Heartbeat(run.pk, token):  # a language model may take a while: keep the reconciler informed
            outcome = _generate(run)
    except Exception as exc:
        logger.exception("generating run #%s failed", run.pk)
        outcome = (
            S.FAILED,
            {"error": f"Generation failed: {exc}", "error_category": "internal"},
            "Generation failed",
        )
    to_status, fields, message = outcome
    ms = int((timezone.now() - started).total_seconds() * 1000)
    fields["stage_timings"] = {**(run.stage_timings or {}), "generate": _timing(ms)}
    try:
        transition(
            run.pk,
            to_status,
            message=message,
            expect_from=S.GENERATING,
            enqueue="run_plan" if to_status == S.VALIDATING else None,
            worker_lease="",
            lease_expires_at=None,
            **fields,
        )
    except IllegalTransition:
        _cleanup_after_stop(run.pk, token)
        return "noop"
    return to_status


def _generate(run: Run) -> tuple[str, dict[str, Any], str]:
    """Turn the run's intent into a composition spec; returns (next status, fields, message)."""
    from iac.composed import parse_spec
    from iac.spec import SpecError, build_spec

    config, account = run.config, run.config.account
    if run.spec:  # one stack of a multi-stack request, or a re-plan of one: the spec is given
        try:
            spec = parse_spec(run.spec)
        except SpecError as exc:
            return (
                S.BLOCKED,
                {"error": f"The spec is not valid: {exc}", "error_category": "invalid_spec"},
                "Invalid spec",
            )
        return S.VALIDATING, _spec_fields(spec), "Spec ready"

    from agents.domains import AgentContext
    from agents.intent import Intent
    from agents.router import route

    if not run.intent:
        understood = _understand(run.request_text, config, tenant=run.tenant)
        if not understood["intent"]:
            return (
                S.FAILED,
                {"error": "The request could not be understood.", "error_category": "parse"},
                "Not understood",
            )
        run.intent = understood["intent"]
    intent = Intent.model_validate(run.intent)
    answer = route(intent, AgentContext.for_config(config, user=run.requested_by))
    base: dict[str, Any] = {"agent": answer.agent, "intent": answer.intent.to_dict()}
    if answer.blueprint:
        base["belief"] = {**(run.belief or {}), "blueprint": answer.blueprint, "notes": list(answer.notes)}
    if answer.status == "needs_clarification":
        questions = [q.to_dict() if hasattr(q, "to_dict") else q for q in answer.questions]
        base["clarification"] = {
            "questions": questions,
            "answers": (run.clarification or {}).get("answers", {}),
        }
        return S.NEEDS_CLARIFICATION, base, answer.message
    if answer.status == "refused":
        return (
            S.BLOCKED,
            {**base, "error": "\n".join(answer.refusals) or answer.message, "error_category": "refused"},
            "Refused",
        )
    # A free-form composition the agent validated, placed and safety-checked is planned like a stack.
    composed = (answer.composition or {}).get("spec") if answer.status == "proposed" else None
    if composed is not None:
        base["belief"] = {**(run.belief or {}), **base.get("belief", {}), "composition": answer.composition}
    if composed is None and (answer.status != "ready" or not answer.specs):
        return S.FAILED, {**base, "error": answer.message, "error_category": "not_available"}, "Not available"
    if answer.intent.action.value == "destroy" or run.kind == RunKind.DESTROY:
        # What to destroy is an applied stack, not a reading of free text: destroy runs start from the
        # applied run (`runs.services.run_destroy_request`), which gives the exact spec.
        message = "Destroy an applied stack from its applied run (Destroy); a request text cannot name one."
        return S.FAILED, {**base, "error": message, "error_category": "not_available"}, "Not available"
    if composed is not None:
        try:
            spec = parse_spec(composed)
        except SpecError as exc:
            return S.BLOCKED, {**base, "error": str(exc), "error_category": "invalid_spec"}, "Invalid spec"
        message = f"Spec ready: composition {spec.composition.name}"
        return S.VALIDATING, {**base, **_spec_fields(spec)}, message

    built = []
    for item in answer.specs:
        try:
            built.append(
                build_spec(
                    item["stack"],
                    item.get("parameters", {}),
                    account=account,
                    config=config,
                    tags=item.get("tags") or {},
                    region=item.get("region") or None,
                )
            )
        except (SpecError, KeyError, ValueError) as exc:
            return (
                S.BLOCKED,
                {**base, "error": f"{item.get('stack')}: {exc}", "error_category": "invalid_spec"},
                "Invalid spec",
            )
    for extra in built[1:]:  # one run per stack; the first stays this run
        _create_run(
            config=config,
            user=run.requested_by,
            request_text=run.request_text,
            status=S.QUEUED,
            message=f"Part of run #{run.pk} ({extra.stack})",
            data={"parent": run.pk, "stack": extra.stack},
            parent=run,
            kind=run.kind,
            intent=run.intent,
            parser=run.parser,
            belief=run.belief,
            agent=answer.agent,
            spec=extra.model_dump(mode="json"),
        )
    message = f"Spec ready: {built[0].stack}" + (
        f" (+{len(built) - 1} more run(s))" if len(built) > 1 else ""
    )
    return S.VALIDATING, {**base, **_spec_fields(built[0])}, message


def _spec_fields(spec) -> dict[str, Any]:
    data = spec.model_dump(mode="json")
    return {"spec": data, "spec_sha256": spec.sha256()}


# --- planning (plan queue) ---------------------------------------------------------------------------


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


def _source_archive(workdir: Path, files: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in sorted({*files, ".terraform.lock.hcl"}):
            path = workdir / name
            if path.is_file():
                archive.add(path, arcname=name, recursive=False)
    return buffer.getvalue()


def _plan_summary(plan_json: dict | None) -> dict[str, int]:
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


def _gate_dicts(result) -> list[dict]:
    return [g.to_dict() if hasattr(g, "to_dict") else dict(g) for g in result.gates]


def run_plan(run_id: int, *, tenant_id: int | None = None, final_attempt: bool = True) -> str:
    """validating → planning → policy_check → awaiting_approval (or no_changes/blocked/failed).

    Raises TransientError (after discarding the attempt's work) when AWS throttled or the connection
    dropped and this is not the final attempt; the task retries with backoff."""
    from .services import lock_retry_seconds

    run = load_run(run_id, tenant_id)
    stages = (S.VALIDATING, S.PLANNING, S.POLICY_CHECK)
    if run is None or run.status not in stages:
        return "noop"
    token = lease_acquire(run.pk, statuses=stages)
    if token is None:
        return "noop"
    try:
        locks.acquire(run, purpose="plan")
    except locks.WorkspaceBusy as busy:
        lease_release(run.pk, token)
        _note_once(run, f"Waiting: {busy}")
        _dispatch_later("run_plan", run, lock_retry_seconds())
        return "busy"

    pipeline = _pipeline()
    from iac.composed import parse_spec

    config = type(run.config).objects.select_related("account", "tenant").get(pk=run.config_id)
    config_version = config.version  # before anything runs: an edit during the plan makes it stale
    workdir = workdir_for(run)
    shutil.rmtree(workdir, ignore_errors=True)  # a retried attempt starts from nothing
    GateResult.objects.filter(run=run).delete()
    artifacts.artifact_delete_for_run(run)

    cancel = threading.Event()
    log = LogTail()
    # A retried attempt starts its stage timings afresh too; generation happened once.
    kept = {k: v for k, v in (run.stage_timings or {}).items() if k == "generate"}
    recorder = StageRecorder(run.pk, token, kept)
    from iac.stage_events import StageCancelled

    try:
        spec = parse_spec(run.spec)
        with Heartbeat(run.pk, token, cancel_event=cancel, log=log):
            result = _plan_function(run, pipeline)(
                spec,
                account=config.account,
                config=config,
                workdir=workdir,
                on_line=log,
                request_budget=_request_budget(run),
                cancel_event=cancel,
                run_id=run.pk,
                on_stage=recorder,
            )
    except StageCancelled:
        shutil.rmtree(workdir, ignore_errors=True)
        _cleanup_after_stop(run.pk, token)
        return "cancelled"
    except Exception as exc:
        if is_transient(exc) and not final_attempt:
            shutil.rmtree(workdir, ignore_errors=True)
            lease_release(run.pk, token)
            run_note(run.pk, f"Retrying after a transient error: {exc}")
            raise TransientError(str(exc)) from exc
        logger.exception("plan of run #%s failed", run.pk)
        shutil.rmtree(workdir, ignore_errors=True)
        return _finish_plan(
            run,
            token,
            S.FAILED,
            path=[],
            message="Plan failed",
            fields={
                "error": f"{type(exc).__name__}: {exc}",
                "error_category": "transient" if is_transient(exc) else "internal",
            },
        )

    if result.status == "failed" and is_transient(result.error) and not final_attempt:
        shutil.rmtree(workdir, ignore_errors=True)
        lease_release(run.pk, token)
        run_note(run.pk, f"Retrying after a transient error: {result.error[:300]}")
        raise TransientError(result.error)
    if result.status == "cancelled":
        shutil.rmtree(workdir, ignore_errors=True)
        _cleanup_after_stop(run.pk, token)
        return "cancelled"
    return _record_plan(
        run, token, result, config_version=config_version, log=log, workdir=workdir, recorder=recorder
    )


def _plan_function(run: Run, pipeline):
    """The plan a run's kind calls for: a change (or reconcile) plan, a destroy plan, a refresh-only
    plan for a drift check."""
    from . import plan_variants

    if run.kind == RunKind.DESTROY:
        return plan_variants.destroy_plan
    if run.kind == RunKind.DRIFT:
        return plan_variants.refresh_plan
    return pipeline.run_pipeline


def _record_plan(
    run: Run,
    token: str,
    result,
    *,
    config_version: int,
    log: LogTail,
    workdir: Path,
    recorder: StageRecorder,
) -> str:
    gates = _gate_dicts(result)
    digest = result.gate_digest or gate_digest(gates)
    fields: dict[str, Any] = {
        "stage_timings": recorder.merged(result),
        "gate_digest": digest,
        "config_version": config_version,
        "source_sha256": result.source_sha256,
        "plan_sha256": result.plan_sha256 or "",
        "has_changes": result.changes,
        "plan_summary": _plan_summary(result.plan_json_redacted),
        "log_tail": log.text(),
        "error": result.error or "",
        "error_category": result.error_category or "",
    }
    cost = next((g for g in gates if g.get("name") == "cost"), None)
    if cost is not None:
        fields["cost_estimate"] = cost.get("details") or {}
    if result.spec_sha256 and run.spec_sha256 and result.spec_sha256 != run.spec_sha256:
        return _finish_plan(
            run,
            token,
            S.FAILED,
            path=[],
            message="Spec changed",
            fields={
                **fields,
                "error": "The planned spec does not match the run's spec.",
                "error_category": "integrity",
            },
        )

    status = result.status
    drift_message = ""
    if run.kind == RunKind.DRIFT and status in ("passed", "no_changes"):
        from .drift import drift_fields

        drift_message, drift = drift_fields(run, result, summary=fields["plan_summary"])
        fields.update(drift)
        if not drift["plan_summary"]["drifted"]:
            status = "no_changes"  # only outputs differ (refresh-only exit 2): no resource drifted
    if status == "passed":
        to_status, path, message = (
            S.AWAITING_APPROVAL,
            [S.PLANNING, S.POLICY_CHECK],
            drift_message or "Plan ready for approval",
        )
    elif status == "no_changes":
        to_status, path, message = S.NO_CHANGES, [S.PLANNING], drift_message or "No changes"
    elif status == "blocked":
        in_code = result.blocked_by in CODE_STAGES
        to_status, path = S.BLOCKED, [] if in_code else [S.PLANNING, S.POLICY_CHECK]
        message = f"Blocked by the {result.blocked_by} gate"
        fields["error"] = fields["error"] or message
        fields["error_category"] = "gate"
    else:
        failed_stage = next((s.name for s in result.stages if s.status == "failed"), "")
        to_status, path = S.FAILED, [] if failed_stage in CODE_STAGES or not failed_stage else [S.PLANNING]
        message = f"Failed at {failed_stage or 'an unknown stage'}"
        fields["error"] = fields["error"] or message
        fields["error_category"] = fields["error_category"] or "terraform"

    # Only a plan waiting for approval can ever be applied: a blocked, failed or empty plan keeps its
    # readable renderings (plan JSON, text, gate reports) but not the plan file or its hash.
    # Artifacts first (storage is not transactional); their rows are removed again if the run moved on.
    try:
        stored = _store_plan_artifacts(
            run, result, gates, workdir, keep_plan_file=to_status == S.AWAITING_APPROVAL
        )
    except Exception as exc:
        logger.exception("storing artifacts of run #%s failed", run.pk)
        to_status, path = S.FAILED, []
        fields.update(error=f"Storing the plan failed: {exc}", error_category="storage")
        stored = []
    if to_status == S.AWAITING_APPROVAL and not any(a.kind == ArtifactKind.PLAN_FILE for a in stored):
        to_status, path = S.FAILED, []
        fields.update(error="The plan file was not produced.", error_category="integrity")
    if to_status != S.AWAITING_APPROVAL:
        fields["plan_sha256"] = ""
    outcome = _finish_plan(run, token, to_status, path=path, message=message, fields=fields, gates=gates)
    if outcome != to_status and stored:
        artifacts.artifact_delete_for_run(run)
    if to_status != S.AWAITING_APPROVAL:
        shutil.rmtree(workdir, ignore_errors=True)
    return outcome


def _store_plan_artifacts(
    run: Run, result, gates: list[dict], workdir: Path, *, keep_plan_file: bool
) -> list:
    stored = []
    if result.render is not None:
        archive = _source_archive(workdir, list(result.render.files))
        stored.append(
            artifacts.artifact_store(
                run=run, kind="source_archive", content=archive, filename="source.tar.gz"
            )
        )
    if keep_plan_file and result.plan_file and Path(result.plan_file).is_file():
        artifact = artifacts.artifact_store(run=run, kind="plan_file", content=Path(result.plan_file))
        if result.plan_sha256 and artifact.sha256 != result.plan_sha256:
            raise ValueError("the stored plan file does not match the planned sha256")
        stored.append(artifact)
    if result.plan_json_redacted is not None:
        stored.append(
            artifacts.artifact_store(
                run=run,
                kind="plan_json_redacted",
                content=canonical_json(result.plan_json_redacted),
                filename="plan.json",
            )
        )
    if result.plan_text:
        stored.append(
            artifacts.artifact_store(run=run, kind="plan_text", content=result.plan_text, filename="plan.txt")
        )
    report = result.to_dict() if hasattr(result, "to_dict") else {"gates": gates}
    stored.append(
        artifacts.artifact_store(
            run=run, kind="gate_report", content=canonical_json(report), filename="gates.json"
        )
    )
    cost = next((g for g in gates if g.get("name") == "cost"), None)
    if cost is not None:
        stored.append(
            artifacts.artifact_store(
                run=run, kind="cost_report", content=canonical_json(cost), filename="cost.json"
            )
        )
    return stored


def _finish_plan(
    run: Run,
    token: str,
    to_status: str,
    *,
    path: list[str],
    message: str,
    fields: dict[str, Any],
    gates: list[dict] | None = None,
) -> str:
    """Walk the remaining stages and land on `to_status` in one transaction (all or nothing)."""
    try:
        with transaction.atomic():
            current = Run.objects.select_for_update().get(pk=run.pk)
            if current.worker_lease != token:
                raise IllegalTransition(current.status, to_status, reason="this worker lost the run's lease")
            for order, gate in enumerate(gates or []):
                name = gate.get("name", f"gate{order}")
                GateResult.objects.create(
                    tenant_id=run.tenant_id,
                    run=run,
                    name=name,
                    status=str(gate.get("status", "pass")),
                    summary=str(gate.get("summary", ""))[:1000],
                    findings=gate.get("findings", []),
                    details=gate.get("details", {}),
                    duration_ms=int(gate.get("duration_ms") or 0),
                    order=GATE_ORDER.index(name) if name in GATE_ORDER else len(GATE_ORDER) + order,
                )
            status = current.status
            for step in path:
                if precedes(status, step):
                    transition(
                        run.pk, step, message=f"{step.replace('_', ' ').capitalize()}", expect_from=status
                    )
                    status = step
            transition(
                run.pk,
                to_status,
                message=message,
                data={"gate_digest": fields.get("gate_digest", "")}
                if to_status == S.AWAITING_APPROVAL
                else None,
                expect_from=status,
                worker_lease="",
                lease_expires_at=None,
                **fields,
            )
    except IllegalTransition:
        _cleanup_after_stop(run.pk, token)
        return "noop"
    return to_status


# --- applying (apply queue) -------------------------------------------------------------------------


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


def run_apply(run_id: int, *, tenant_id: int | None = None) -> str:
    """approved → applying → applied/failed. Never retried automatically; a duplicate delivery is a no-op."""
    from .services import lock_retry_seconds

    run = load_run(run_id, tenant_id)
    if run is None or run.status != S.APPROVED:
        return "noop"
    token = lease_acquire(run.pk, statuses=[S.APPROVED])
    if token is None:
        return "noop"
    try:
        locks.acquire(run, purpose="apply")
    except locks.WorkspaceBusy as busy:
        lease_release(run.pk, token)
        _note_once(run, f"Waiting: {busy}")
        _dispatch_later("run_apply", run, lock_retry_seconds())
        return "busy"
    try:
        started = apply_begin(run.pk, lease=token)
    except ApplyRefused as exc:
        return str(exc.status)
    if started is None:
        _cleanup_after_stop(run.pk, token)
        return "noop"
    run = load_run(run.pk, None)

    pipeline = _pipeline()
    log = LogTail()
    fields: dict[str, Any] = {}
    timings = dict(run.stage_timings or {})
    timings["apply"] = {"status": "running", "started": timezone.now().isoformat()}
    lease_renew(run.pk, token, stage_timings=timings)
    try:
        from iac.composed import parse_spec

        spec = parse_spec(run.spec)
        with Heartbeat(run.pk, token, log=log):  # no cancel event: an apply is never stopped half-way
            workdir = _prepare_apply_workdir(run, pipeline, spec)
            result = pipeline.apply_plan(
                workdir,
                PLAN_FILE,
                run.plan_sha256,
                account=run.config.account,
                region=spec.region,
                run_id=run.pk,
                on_line=log,
            )
            ok = bool(result.ok)
            if ok and run.kind in REFRESHED_AFTER_APPLY:
                # Still under the workspace lock: record what this apply caused (see the function).
                env = pipeline.terraform_env(run.config.account, spec.region, run_id=run.pk)
                timings["refresh"] = state_refresh_after_apply(run, workdir, env=env, on_line=log)
            if ok:
                fields.update(_outputs_after_apply(run, pipeline, spec, workdir, timings))
        if not ok:
            fields.update(
                error=result.message or "terraform apply failed",
                error_category=str(result.category or "terraform"),
            )
    except Exception as exc:
        logger.exception("apply of run #%s failed", run.pk)
        ok = False
        fields.update(error=f"{type(exc).__name__}: {exc}", error_category="internal")
        result = None
    try:
        artifacts.artifact_store(
            run=run, kind="apply_log", content=log.full() or "(no output)", filename="apply.log"
        )
    except Exception:
        logger.exception("storing the apply log of run #%s failed", run.pk)
    duration = getattr(result, "duration_ms", None)
    timings["apply"] = {**timings["apply"], "status": "passed" if ok else "error", "ms": duration or 0}
    fields["stage_timings"] = timings
    fields["log_tail"] = log.text()
    to_status = S.APPLIED if ok else S.FAILED
    transition(
        run.pk,
        to_status,
        message="Applied" if ok else "Apply failed",
        expect_from=S.APPLYING,
        worker_lease="",
        lease_expires_at=None,
        **fields,
    )
    shutil.rmtree(workdir_for(run), ignore_errors=True)
    if ok:
        _stale_siblings(run)
    return to_status


def _outputs_after_apply(run: Run, pipeline, spec, workdir: Path, timings: dict) -> dict[str, Any]:
    """`terraform output -json` of the applied state, sensitive values masked. The apply already
    happened, so a failure here is noted on the run, never turned into a failed apply."""
    from .apply import OutputsError, read_outputs

    started = timezone.now()
    try:
        env = pipeline.terraform_env(run.config.account, spec.region, run_id=run.pk)
        outputs = read_outputs(workdir, env=env)
    except OutputsError as exc:
        run_note(run.pk, f"Applied, but the outputs could not be read: {exc}")
        outputs, status = {}, "error"
    else:
        status = "passed"
    ms = int((timezone.now() - started).total_seconds() * 1000)
    timings["outputs"] = {"status": status, "started": started.isoformat(), "ms": ms}
    return {"outputs": outputs}


def _stale_siblings(run: Run) -> None:
    """Other plans of the same workspace were made against the state before this apply."""
    waiting = Run.objects.filter(
        workspace_key=run.workspace_key, status__in=[S.AWAITING_APPROVAL, S.APPROVED]
    )
    for sibling in waiting.exclude(pk=run.pk):
        try:
            transition(
                sibling.pk,
                S.STALE,
                message=f"Run #{run.pk} changed the workspace since this plan",
                data={"applied_run": run.pk},
                expect_from=sibling.status,
            )
        except IllegalTransition:
            continue


__all__ = [
    "Heartbeat",
    "LogTail",
    "TenantMismatch",
    "TransientError",
    "is_transient",
    "load_run",
    "run_apply",
    "run_generate",
    "run_plan",
    "spec_digest",
]
