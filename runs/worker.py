"""What the Celery workers do with a run: generate (agents queue), plan (plan queue), apply (apply queue).

Each entry point takes ids, reloads the run, refuses another tenant's ids, takes the run's worker lease with
a conditional UPDATE (a duplicate delivery then does nothing) and moves the run through `transition`. A
heartbeat thread keeps `heartbeat_at`/the lease fresh while a stage runs and notices cancellation. The
engine (`runs.engines`, named by `Run.engine`) does the planning and applying; this module knows none.
"""

from __future__ import annotations

import collections
import logging
import shutil
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from iac.gates.base import gate_digest
from iac.stage_events import StageCancelled
from tenants.aws import is_transient

from . import artifacts, locks
from .apply import ApplyRefused, apply_begin
from .engines import ApplyJob, ApplyOutcome, PlanJob, PlanOutcome, PlanStatus, engine_for, workdir_for
from .models import ArtifactKind, GateResult, Run, RunKind
from .services import (
    _create_run,
    _understand,
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

GATE_ORDER = (
    "safety",
    "fmt",
    "validate",
    "checkov_code",
    "opa",
    "checkov_plan",
    "cost",
    "permissions",
    "policy",
)


class TenantMismatch(Exception):
    """A task was given ids of a run that belongs to another tenant than the one it was sent for."""


class TransientError(Exception):
    """AWS throttled or the connection dropped: the plan stage may be retried from scratch."""


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
    "resolve": S.PLANNING,  # the aws engine: targets resolved from the account
    "policy": S.POLICY_CHECK,
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

    def merged(self, final: dict[str, dict]) -> dict[str, Any]:
        """The live timings, completed from the engine's final ones for stages never announced (or
        still shown running); totals always come from the engine."""
        timings = dict(self.timings)
        for stage, entry in final.items():
            if stage not in timings or timings[stage].get("status") == "running" or stage.endswith("_total"):
                timings[stage] = entry
        return timings


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
    token = lease_acquire(run.pk, statuses=[S.QUEUED])
    if token is None:
        return "noop"
    if not _lock_or_wait(run, token, "plan", "run_generate", lock_retry_seconds()):
        return "busy"
    try:
        transition(run.pk, S.GENERATING, message="Generating the change", expect_from=S.QUEUED)
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
    if answer.status == "ready" and answer.run_source:  # another engine's change: its source as given
        source = answer.run_source["source"]
        fields = {
            **base,
            "engine": answer.run_source["engine"],
            "spec": source,
            "spec_sha256": spec_digest(source),
        }
        return S.VALIDATING, fields, answer.message
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

# Where a plan that stopped early had got to: the stages it walks before landing on its end state.
_PLAN_PATHS = {
    (PlanStatus.PASSED, "gates"): [S.PLANNING, S.POLICY_CHECK],
    (PlanStatus.NO_CHANGES, "gates"): [S.PLANNING],
    (PlanStatus.BLOCKED, "gates"): [S.PLANNING, S.POLICY_CHECK],
    (PlanStatus.FAILED, "plan"): [S.PLANNING],
}
_PLAN_END = {
    PlanStatus.PASSED: S.AWAITING_APPROVAL,
    PlanStatus.NO_CHANGES: S.NO_CHANGES,
    PlanStatus.NOTHING_TO_DO: S.NOTHING_TO_DO,
    PlanStatus.BLOCKED: S.BLOCKED,
    PlanStatus.FAILED: S.FAILED,
}


def run_plan(run_id: int, *, tenant_id: int | None = None, final_attempt: bool = True) -> str:
    """validating → planning → policy_check → awaiting_approval (or no_changes/nothing_to_do/blocked/
    failed), whatever the run's engine.

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
    if not _lock_or_wait(run, token, "plan", "run_plan", lock_retry_seconds()):
        return "busy"

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
    job = PlanJob(
        run=run, config=config, workdir=workdir, on_line=log, on_stage=recorder, cancel_event=cancel
    )
    try:
        with Heartbeat(run.pk, token, cancel_event=cancel, log=log):
            outcome = engine_for(run.engine).plan(job)
    except StageCancelled:
        outcome = PlanOutcome(PlanStatus.CANCELLED)
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

    if outcome.transient and not final_attempt:
        shutil.rmtree(workdir, ignore_errors=True)
        lease_release(run.pk, token)
        run_note(run.pk, f"Retrying after a transient error: {outcome.error[:300]}")
        raise TransientError(outcome.error)
    if outcome.status == PlanStatus.CANCELLED:
        shutil.rmtree(workdir, ignore_errors=True)
        _cleanup_after_stop(run.pk, token)
        return "cancelled"
    return _record_plan(
        run, token, outcome, config_version=config_version, log=log, workdir=workdir, recorder=recorder
    )


def _lock_or_wait(run: Run, token: str, purpose: str, task: str, countdown: int) -> bool:
    """Take the workspace lock, or give the lease back, note why and try the task again later."""
    try:
        locks.acquire(run, purpose=purpose)
    except locks.WorkspaceBusy as busy:
        lease_release(run.pk, token)
        _note_once(run, f"Waiting: {busy}")
        _dispatch_later(task, run, countdown)
        return False
    return True


def _record_plan(
    run: Run,
    token: str,
    outcome: PlanOutcome,
    *,
    config_version: int,
    log: LogTail,
    workdir: Path,
    recorder: StageRecorder,
) -> str:
    fields: dict[str, Any] = {
        "stage_timings": recorder.merged(outcome.stage_timings),
        "gate_digest": outcome.gate_digest or gate_digest(outcome.gates),
        "config_version": config_version,
        "source_sha256": outcome.source_sha256,
        "plan_sha256": outcome.plan_sha256,
        "has_changes": outcome.has_changes,
        "plan_summary": outcome.plan_summary,
        "log_tail": log.text(),
        "error": outcome.error,
        "error_category": outcome.error_category,
        **outcome.fields,
    }
    if outcome.cost_estimate is not None:
        fields["cost_estimate"] = outcome.cost_estimate
    to_status = _PLAN_END[outcome.status]
    path = _PLAN_PATHS.get((outcome.status, outcome.stopped_at), [])
    message = outcome.message

    # Only a plan waiting for approval can ever be applied: a blocked, failed or empty plan keeps its
    # readable renderings (plan JSON, text, gate reports) but not the plan document or its hash.
    # Artifacts first (storage is not transactional); their rows are removed again if the run moved on.
    try:
        stored = _store_plan_artifacts(run, outcome, keep_plan=to_status == S.AWAITING_APPROVAL)
    except Exception as exc:
        logger.exception("storing artifacts of run #%s failed", run.pk)
        to_status, path = S.FAILED, []
        fields.update(error=f"Storing the plan failed: {exc}", error_category="storage")
        stored = []
    if to_status == S.AWAITING_APPROVAL and not any(a.kind == ArtifactKind.PLAN_FILE for a in stored):
        to_status, path = S.FAILED, []
        fields.update(error="The plan document was not produced.", error_category="integrity")
    if to_status != S.AWAITING_APPROVAL:
        fields["plan_sha256"] = ""
    gates = outcome.gates
    result = _finish_plan(run, token, to_status, path=path, message=message, fields=fields, gates=gates)
    if result != to_status and stored:
        artifacts.artifact_delete_for_run(run)
    if to_status != S.AWAITING_APPROVAL:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _store_plan_artifacts(run: Run, outcome: PlanOutcome, *, keep_plan: bool) -> list:
    stored = []
    for item in outcome.artifacts:
        if item.plan_document and not keep_plan:
            continue
        artifact = artifacts.artifact_store(
            run=run, kind=item.kind, content=item.content, filename=item.filename
        )
        if item.plan_document and outcome.plan_sha256 and artifact.sha256 != outcome.plan_sha256:
            raise ValueError("the stored plan document does not match the planned sha256")
        stored.append(artifact)
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


def run_apply(run_id: int, *, tenant_id: int | None = None) -> str:
    """approved → applying → applied/failed, whatever the run's engine. Never retried automatically; a
    duplicate delivery is a no-op."""
    from .services import lock_retry_seconds

    run = load_run(run_id, tenant_id)
    if run is None or run.status != S.APPROVED:
        return "noop"
    token = lease_acquire(run.pk, statuses=[S.APPROVED])
    if token is None:
        return "noop"
    if not _lock_or_wait(run, token, "apply", "run_apply", lock_retry_seconds()):
        return "busy"
    engine = engine_for(run.engine)
    try:
        changed = engine.recheck(run)  # an approval never applies to a different world
    except Exception as exc:
        logger.warning("re-checking run #%s failed", run.pk, exc_info=True)
        changed = [f"the account could not be re-checked ({type(exc).__name__}: {exc})"]
    try:
        started = apply_begin(run.pk, lease=token, world_changes=changed)
    except ApplyRefused as exc:
        return str(exc.status)
    if started is None:
        _cleanup_after_stop(run.pk, token)
        return "noop"
    run = load_run(run.pk, None)

    log = LogTail()
    timings = dict(run.stage_timings or {})
    timings["apply"] = {"status": "running", "started": timezone.now().isoformat()}
    lease_renew(run.pk, token, stage_timings=timings)
    job = ApplyJob(
        run=run,
        workdir=workdir_for(run),
        on_line=log,
        read_artifact=lambda kind: _read_latest(run, kind),
        record=lambda fields: lease_renew(run.pk, token, **fields),
    )
    try:
        with Heartbeat(run.pk, token, log=log):  # no cancel event: an apply is never stopped half-way
            outcome = engine.apply(job)
    except Exception as exc:
        logger.exception("apply of run #%s failed", run.pk)
        outcome = ApplyOutcome(ok=False, error=f"{type(exc).__name__}: {exc}", error_category="internal")
    try:
        artifacts.artifact_store(
            run=run, kind="apply_log", content=log.full() or "(no output)", filename="apply.log"
        )
    except Exception:
        logger.exception("storing the apply log of run #%s failed", run.pk)
    timings.update(outcome.stage_timings)
    status = "passed" if outcome.ok else "error"
    timings["apply"] = {**timings["apply"], "status": status, "ms": outcome.duration_ms}
    fields: dict[str, Any] = {**outcome.fields, "stage_timings": timings, "log_tail": log.text()}
    if not outcome.ok:
        fields.update(error=outcome.error or "the apply failed", error_category=outcome.error_category)
    to_status = S.APPLIED if outcome.ok else S.FAILED
    data = {"receipt": outcome.receipt} if outcome.receipt is not None else None
    transition(
        run.pk,
        to_status,
        message=outcome.message or ("Applied" if outcome.ok else "Apply failed"),
        data=data,
        expect_from=S.APPLYING,
        worker_lease="",
        lease_expires_at=None,
        **fields,
    )
    shutil.rmtree(workdir_for(run), ignore_errors=True)
    if outcome.ok and engine.stales_siblings:
        _stale_siblings(run)
    if outcome.follow_up is not None:
        _offer_follow_up(run, outcome.follow_up)
    return to_status


def _read_latest(run: Run, kind: str) -> bytes | None:
    artifact = artifacts.latest(run, kind)
    return None if artifact is None else artifacts.artifact_read(artifact)


def _offer_follow_up(run: Run, follow_up: dict) -> None:
    """Record what the engine proposes after this apply (a rollback of the done part of a failed one);
    a person starts it as a new reviewed run, never the worker."""
    run_note(run.pk, follow_up.get("message", "A follow-up run is available"), data={"follow_up": follow_up})


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
