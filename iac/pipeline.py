"""The gate pipeline: render → safety → fmt → init/validate → checkov (code) → plan → show -json → OPA →
checkov (plan) → cost, in DESIGN.md's order.

Every stage is timed and every gate's `GateResult` is kept. The first failing gate blocks the run and no
later gate's result is reported; nothing that executes provider code (init, validate, plan) starts before
the safety gate has passed, and the plan is not used (reported, shown, applied) before every earlier gate
has passed.

Speed without changing the verdict. Every `terraform validate`/`plan`/`show` loads the ~400 MB AWS
provider and its schema (seconds of CPU each), so the pipeline avoids loads a bare `init && plan` does
not need, and runs read-only gates concurrently where the order allows it; results are still reported
in gate order:
- checkov (code) scans a snapshot of the rendered source while `terraform init` and the plan run;
- `terraform plan -out` starts speculatively as soon as `terraform init` succeeded, beside checkov
  (code). `terraform plan` validates the configuration (the same validation walk as `terraform
  validate`) before it plans, so a plan that succeeds without printing any diagnostic *is* the validate
  verdict; `terraform validate -json` runs only when the plan failed, printed a warning or error, or was
  cancelled, and then its structured diagnostics are the verdict (`plan_validation_gate`). If validate
  or checkov (code) fails, the plan is cancelled and its file discarded, and the run is reported blocked
  at that gate exactly as if plan had never started (see `_SpeculativePlan`);
- both Checkov scans run in the process's warm Checkov worker (`iac/checkov_worker.py`: imported once
  per worker process, each scan in a fresh fork of the imported state), so they cost the scans, not
  ~4 s of CPU for imports each (the CLI is the fallback);
- after `terraform show -json`, OPA, checkov (plan), cost and the plan JSON redaction run side by side
  (a failing OPA gate discards the later verdicts); checkov (plan) reads the plan JSON from a private
  temp dir, without re-parsing the HCL ("plan enrichment"), which cannot change its verdict;
- the human plan text is `terraform plan`'s own (redacted) output, so no second `terraform show` starts
  the provider again.

Credentials: `tenants.aws.session_for_account(account).credentials.as_env()` (plus the region; in sandbox
mode on top of `iac.sandbox.sandbox_env()`), registered with the run's redactor so they never surface in
logs or plan renderings. Raw plan JSON is returned for gates and callers that need real values; what is
stored or shown is `plan_json_redacted`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iac.composed import render_spec
from iac.gates.base import Finding, GateResult, Severity, Status, gate_digest
from iac.redaction import MASK, Redactor, run_redactor
from iac.renderer import RenderError, RenderResult
from iac.spec import SpecError
from iac.stage_events import StageCallback, StageCancelled, StageEvents
from iac.terraform import Category, TerraformResult, TerraformRunner, sha256_file

if TYPE_CHECKING:
    from iac.composed import AnySpec
    from iac.gates.checkov import CheckovWorker
    from iac.gates.cost import Budget
    from tenants.models import AwsAccount, Config

logger = logging.getLogger(__name__)

PLAN_FILE = "plan.tfplan"
DESTROY_PLAN_FILE = "destroy.tfplan"
PLAN_JSON_FILE = (
    "tfplan.json"  # raw plan JSON for checkov (plan), in a private temp dir; removed once scanned
)
CHECKOV_SKIPS_FILE = Path(__file__).resolve().parent / "CHECKOV_SKIPS.md"

STAGES = (
    "render",
    "safety",
    "fmt",
    "validate",  # terraform init + validate
    "checkov_code",
    "plan",
    "show_json",
    "opa",
    "checkov_plan",
    "cost",
)
CODE_STAGES = STAGES[: STAGES.index("plan")]
GATE_ORDER = ("safety", "fmt", "validate", "checkov_code", "opa", "checkov_plan", "cost")


class PipelineStatus:
    PASSED = "passed"  # every gate passed (warnings need acknowledging); awaiting approval
    NO_CHANGES = "no_changes"
    BLOCKED = "blocked"  # a gate failed
    FAILED = "failed"  # render, terraform or the sandbox failed
    CANCELLED = "cancelled"
    APPLIED = "applied"  # apply=True only (tests, CLI)


@dataclass
class Stage:
    name: str
    status: str  # ok, failed, blocked, skipped, cancelled
    duration_ms: int = 0
    detail: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "detail": self.detail,
        }


@dataclass
class PipelineResult:
    status: str
    spec_sha256: str = ""
    workdir: str = ""
    render: RenderResult | None = None
    stages: list[Stage] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    blocked_by: str | None = None
    error: str = ""
    error_category: str | None = None
    changes: bool | None = None
    plan_file: str | None = None
    plan_sha256: str | None = None
    plan_json: dict | None = None  # raw: for gates and callers that need real values; never store it
    plan_json_redacted: dict | None = None
    plan_text: str = ""
    gate_digest: str = ""
    config_version: int | None = None
    total_ms: int = 0
    terraform: dict[str, dict] = field(default_factory=dict)  # stage -> TerraformResult.to_dict()
    apply_result: TerraformResult | None = None

    @property
    def source_sha256(self) -> str:
        return self.render.source_sha256 if self.render else ""

    @property
    def passed(self) -> bool:
        return self.status in (PipelineStatus.PASSED, PipelineStatus.APPLIED)

    def gate(self, name: str) -> GateResult | None:
        return next((g for g in self.gates if g.name == name), None)

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def timings(self) -> dict[str, int]:
        return {s.name: s.duration_ms for s in self.stages}

    def to_dict(self, *, include_plan: bool = False) -> dict:
        data = {
            "status": self.status,
            "blocked_by": self.blocked_by,
            "error": self.error,
            "error_category": self.error_category,
            "spec_sha256": self.spec_sha256,
            "source_sha256": self.source_sha256,
            "plan_sha256": self.plan_sha256,
            "gate_digest": self.gate_digest,
            "config_version": self.config_version,
            "changes": self.changes,
            "workdir": self.workdir,
            "plan_file": self.plan_file,
            "total_ms": self.total_ms,
            "stages": [s.to_dict() for s in self.stages],
            "gates": [g.to_dict() for g in self.gates],
            "render": self.render.to_dict() if self.render else None,
        }
        if include_plan:
            data["plan_json_redacted"] = self.plan_json_redacted
            data["plan_text"] = self.plan_text
        return data


# --- helpers ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _platform_checkov_skips(stamp: float) -> dict[str, str]:
    skips: dict[str, str] = {}
    for line in CHECKOV_SKIPS_FILE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and (m := re.match(r"^(CKV2?_[A-Z0-9]+_\d+)\b", cells[0])):
            skips[m.group(1)] = cells[2]
    return skips


def platform_checkov_skips() -> dict[str, str]:
    """Check id -> reason for the skips the curated modules carry (`iac/CHECKOV_SKIPS.md`).

    The checkov gate ignores inline skip comments unless the platform lists them; the curated code's
    documented skips are the platform's list. Tenant code cannot add to it: it only renders curated code.
    """
    try:
        stamp = CHECKOV_SKIPS_FILE.stat().st_mtime
    except OSError:
        return {}
    return dict(_platform_checkov_skips(stamp))


def terraform_env(account: AwsAccount, region: str, *, run_id: int | str | None = None) -> dict[str, str]:
    """Environment for terraform against `account`: assumed-role credentials only, never stored keys."""
    from iac.sandbox import sandbox_env
    from tenants.aws import session_for_account

    env: dict[str, str] = {}
    if account.mode == "sandbox":
        env.update(sandbox_env(region))
    env.update(session_for_account(account, run_id=run_id, region=region).credentials.as_env())
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
    return env


def _mask_marked(value: Any, marks: Any) -> Any:
    """Mask the parts of `value` that Terraform's `*_sensitive` structure marks true."""
    if marks is True:
        if value is None:
            return None
        if isinstance(value, dict):
            return {k: _mask_marked(v, True) for k, v in value.items()}
        if isinstance(value, list):
            return [_mask_marked(v, True) for v in value]
        return MASK
    if isinstance(marks, dict) and isinstance(value, dict):
        return {k: _mask_marked(v, marks.get(k, False)) for k, v in value.items()}
    if isinstance(marks, list) and isinstance(value, list):
        return [_mask_marked(v, marks[i] if i < len(marks) else False) for i, v in enumerate(value)]
    return value


def _mask_module_values(module: Any) -> Any:
    if not isinstance(module, dict):
        return module
    out = dict(module)
    resources = []
    for res in module.get("resources") or []:
        res = dict(res)
        if "values" in res:
            res["values"] = _mask_marked(res["values"], res.get("sensitive_values", {}))
        resources.append(res)
    if "resources" in module:
        out["resources"] = resources
    if "child_modules" in module:
        out["child_modules"] = [_mask_module_values(c) for c in module.get("child_modules") or []]
    return out


def _mask_values_doc(doc: Any) -> Any:
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    if isinstance(doc.get("outputs"), dict):
        out["outputs"] = {
            name: {**o, "value": MASK} if isinstance(o, dict) and o.get("sensitive") else o
            for name, o in doc["outputs"].items()
        }
    if "root_module" in doc:
        out["root_module"] = _mask_module_values(doc["root_module"])
    return out


def redact_plan_json(plan: dict, redactor: Redactor | None = None) -> dict:
    """A copy of `terraform show -json` safe to store and show (invariant 9).

    Masks what the provider marks sensitive (`before_sensitive`/`after_sensitive`, `sensitive_values`,
    sensitive outputs and variables), then every attribute with a known-sensitive name even when not
    marked, registered runtime secrets, and secret-shaped strings (`Redactor.redact_json`).
    """
    redactor = redactor or run_redactor()
    doc = dict(plan)
    changes = []
    for rc in plan.get("resource_changes") or []:
        rc = dict(rc)
        change = dict(rc.get("change") or {})
        for side in ("before", "after"):
            if side in change:
                change[side] = _mask_marked(change[side], change.get(f"{side}_sensitive", False))
        rc["change"] = change
        changes.append(rc)
    if "resource_changes" in plan:
        doc["resource_changes"] = changes
    if isinstance(plan.get("output_changes"), dict):
        outputs = {}
        for name, oc in plan["output_changes"].items():
            oc = dict(oc)
            for side in ("before", "after"):
                if side in oc:
                    oc[side] = _mask_marked(oc[side], oc.get(f"{side}_sensitive", False))
            outputs[name] = oc
        doc["output_changes"] = outputs
    if isinstance(plan.get("planned_values"), dict):
        doc["planned_values"] = _mask_values_doc(plan["planned_values"])
    if isinstance(plan.get("prior_state"), dict):
        doc["prior_state"] = {
            **plan["prior_state"],
            "values": _mask_values_doc(plan["prior_state"].get("values")),
        }
    sensitive_vars = {
        name
        for name, var in ((plan.get("configuration") or {}).get("root_module") or {})
        .get("variables", {})
        .items()
        if isinstance(var, dict) and var.get("sensitive")
    }
    if isinstance(plan.get("variables"), dict):
        doc["variables"] = {
            name: {**v, "value": MASK} if name in sensitive_vars and isinstance(v, dict) else v
            for name, v in plan["variables"].items()
        }
    return redactor.redact_json(doc)


_PLAN_TEXT_MARKERS = (
    "Terraform used the selected providers",
    "Terraform will perform the following actions",
    "No changes.",
    "Changes to Outputs:",
)


def plan_text(lines: list[str]) -> str:
    """The human plan rendering from `terraform plan`'s (already redacted) output, refresh noise dropped."""
    for i, line in enumerate(lines):
        if line.startswith(_PLAN_TEXT_MARKERS):
            return "\n".join(lines[i:]).strip() + "\n"
    return "\n".join(lines).strip() + "\n" if lines else ""


class _Clock:
    """Records finished stages on the result and tells the run's `on_stage` callback as it goes."""

    def __init__(self, result: PipelineResult, events: StageEvents | None = None) -> None:
        self.result = result
        self.events = events or StageEvents(None, ())

    def start(self, name: str, **info: Any) -> None:
        self.events.start(name, **info)

    def record(
        self, name: str, start: float, status: str = "ok", detail: str = "", gate: GateResult | None = None
    ) -> Stage:
        return self.add(Stage(name, status, int((time.perf_counter() - start) * 1000), detail), gate)

    def add(self, stage: Stage, gate: GateResult | None = None) -> Stage:
        self.result.stages.append(stage)
        self.events.end_stage(
            stage.name,
            stage.status,
            duration_ms=stage.duration_ms,
            summary=stage.detail,
            gate=gate.to_dict() if gate is not None else None,
        )
        return stage


def _snapshot(workdir: Path) -> Path:
    """A copy of the rendered source for read-only scanners running while terraform writes .terraform/."""
    target = Path(tempfile.mkdtemp(prefix="gantry-scan-")) / "src"
    shutil.copytree(workdir, target, ignore=shutil.ignore_patterns(".terraform", "*.tfplan", PLAN_JSON_FILE))
    return target


def _checkov(target: Path, kind: str, worker: CheckovWorker | None = None) -> GateResult:
    """checkov through the run's warm worker (same argv, same findings as the CLI), else the CLI."""
    from iac.gates.checkov import checkov_gate

    if worker is None:
        return checkov_gate(target, kind=kind, skip_checks=platform_checkov_skips())  # type: ignore[arg-type]
    return worker.gate(target, kind=kind, skip_checks=platform_checkov_skips())  # type: ignore[arg-type]


def _start_checkov_worker() -> CheckovWorker | None:
    """The process's warm Checkov worker (imports once per process, one fresh fork per scan)."""
    try:
        from iac.gates.checkov import CheckovWorker

        return CheckovWorker.shared()
    except Exception:  # the CLI path still works
        logger.exception("cannot start the warm checkov worker; using the CLI")
        return None


class _AnyEvent:
    """Set when any of the events is: the run's cancel event or the speculative plan's own stop."""

    def __init__(self, *events: threading.Event | None) -> None:
        self.events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class _SpeculativePlan:
    """`terraform plan -out` started right after a successful `terraform init`, beside checkov (code),
    instead of after validate and checkov (code); its own validation pass gives the validate verdict.

    Why this is safe (invariant 6 and the gate order):
    - the safety gate has already passed: `init` itself only runs after it, and so does this plan; the
      code that reaches provider execution is exactly what safety and fmt approved;
    - plan is read-only against the account: it refreshes (reads) and writes only the local plan file.
      It is never applied unless every gate passes, and it is *reported* only then: if `validate` or
      checkov (code) fails, the plan is cancelled (the runner's SIGINT, then SIGTERM/SIGKILL, so Terraform
      releases the state lock), its file is deleted, none of its output, sha256 or timings is returned,
      and the run is blocked at that gate exactly as before; later gates never run;
    - the validate verdict is the same: plan runs terraform's validation walk before planning and stops
      on any error; any diagnostic it prints sends the gate to `terraform validate -json` as before;
    - `validate` (when it runs) and `plan` may share the initialised work dir: after `init`, neither
      writes to `.terraform/` or the lock file (validate reads the config and provider schemas; plan additionally
      reads the backend config and writes only `plan.tfplan`), and each starts its own provider
      processes. checkov (code) scans a snapshot taken before init.
    Its output is buffered and only streamed to `on_line` once the code gates passed (`go_live`), so a
    cancelled plan never shows up in the run's log.
    """

    def __init__(
        self,
        runner: TerraformRunner,
        planfile: str,
        *,
        on_line: Callable[[str], None] | None,
        cancel_event: threading.Event | None,
    ) -> None:
        self.planfile = planfile
        self.path = runner.workdir / planfile
        self.on_line = on_line
        self.lines: list[str] = []
        self.stop = threading.Event()
        self._live = False
        self._lock = threading.Lock()
        self.runner = copy.copy(runner)  # same work dir, env, binary, redactor; own output and stop
        self.runner.on_line = self._line
        self.runner.cancel_event = _AnyEvent(cancel_event, self.stop)  # type: ignore[assignment]
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gantry-plan")
        self.started = time.perf_counter()
        self.future: Future = self._pool.submit(self.runner.plan, planfile)

    def _line(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)
            if self._live and self.on_line is not None:
                self.on_line(line)

    def go_live(self) -> None:
        """The code gates passed: replay what the plan printed so far and stream the rest."""
        with self._lock:
            if self.on_line is not None:
                for line in self.lines:
                    self.on_line(line)
            self._live = True

    def wait(self) -> TerraformResult:
        try:
            return self.future.result()
        finally:
            self._pool.shutdown(wait=True)

    def cancel(self) -> None:
        self.stop.set()

    def discard(self) -> int:
        """Cancel, wait for terraform to stop, delete the plan file; returns the plan's wall time (ms)."""
        self.stop.set()
        with contextlib.suppress(Exception):
            self.future.result()
        self._pool.shutdown(wait=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            self.lines = []
        return int((time.perf_counter() - self.started) * 1000)


def _not_run_reason(result: PipelineResult) -> str:
    """Why the stages still pending when the pipeline returns never ran (or were cut short)."""
    if result.status == PipelineStatus.BLOCKED:
        return f"not run: blocked by {result.blocked_by}"
    if result.status == PipelineStatus.NO_CHANGES:
        return "not run: the plan has no changes"
    if result.status == PipelineStatus.CANCELLED:
        return "cancelled"
    if result.status == PipelineStatus.FAILED:
        return f"not run: {result.error}" if result.error else "not run: an earlier stage failed"
    return "not run"


def _crashed(name: str, exc: BaseException) -> GateResult:
    gate = GateResult(name=name, summary=f"{name} gate crashed")
    gate.add(Finding(rule="gate-crashed", message=f"{type(exc).__name__}: {exc}", severity=Severity.CRITICAL))
    return gate


def _result_of(future: Future, name: str) -> GateResult:
    try:
        return future.result()
    except Exception as exc:  # a gate that crashes fails closed
        logger.exception("%s gate crashed", name)
        return _crashed(name, exc)


# --- code gates (shared with `manage.py iac_check`) -----------------------------------------------------
class PrepareError(Exception):
    """Getting ready to run terraform failed (credentials, state backend); the message is safe to show."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


def run_code_gates(
    workdir: Path,
    result: PipelineResult,
    *,
    make_runner: Callable[[], TerraformRunner],
    trusted_files: dict[str, str] | None,
    allowed_module_roots: list[Path],
    stages: Iterable[str] = CODE_STAGES,
    snapshot: bool = True,
    speculate: Callable[[TerraformRunner], _SpeculativePlan] | None = None,
    on_stage: StageCallback | StageEvents | None = None,
    checkov_worker: CheckovWorker | None = None,
) -> TerraformRunner | None:
    """safety → fmt → init/validate ∥ checkov (code). Appends stages and gates.

    `make_runner` is called only once the safety gate has passed (credentials are not even fetched for
    code that fails it); it may raise PrepareError. Returns the runner, or None when blocked or failed.
    `snapshot=False` scans `workdir` itself (when .terraform lives elsewhere, e.g. TF_DATA_DIR).

    `speculate(runner)` is called once `terraform init` succeeded (so after safety and fmt passed), unless
    checkov (code) has already failed; it starts the pipeline's plan. That plan runs terraform's own
    configuration validation first, so the validate verdict is taken from it (`plan_validation_gate`)
    and `terraform validate -json` only runs when the plan failed, printed a diagnostic or was cancelled
    because checkov (code) failed: then its structured diagnostics are the verdict, as without a plan.
    The plan is cancelled as soon as validate or checkov (code) blocks; the caller still discards it
    when this returns None. `on_stage` is told as each stage starts and ends (see `iac.stage_events`);
    stages that never ran are left for the caller to report.
    """
    from iac.gates.safety import safety_gate
    from iac.gates.terraform_checks import (
        fmt_gate,
        init_failure_gate,
        plan_validation_gate,
        validate_gate,
    )

    wanted = set(stages)
    events = on_stage if isinstance(on_stage, StageEvents) else StageEvents(on_stage, CODE_STAGES)
    clock = _Clock(result, events)
    speculation: _SpeculativePlan | None = None

    def blocked(gate: GateResult, start: float, duration_ms: int | None = None, note: str = "") -> bool:
        result.gates.append(gate)
        failed = gate.status == Status.FAIL
        stage = Stage(gate.name, "blocked" if failed else "ok", 0, gate.summary + note)
        stage.duration_ms = (
            duration_ms if duration_ms is not None else int((time.perf_counter() - start) * 1000)
        )
        clock.add(stage, gate)
        if failed:
            result.status, result.blocked_by = PipelineStatus.BLOCKED, gate.name
            if speculation is not None:
                speculation.cancel()
        return failed

    # Safety reads the raw HCL before anything runs provider code (invariant 6). It is never skipped.
    clock.start("safety")
    start = time.perf_counter()
    gate = safety_gate(workdir, allowed_module_roots=allowed_module_roots, trusted_files=trusted_files)
    if blocked(gate, start):
        return None

    start = time.perf_counter()
    try:
        runner = make_runner()
    except PrepareError as exc:
        clock.record(exc.stage, start, "failed", str(exc))
        result.status, result.error = PipelineStatus.FAILED, str(exc)
        # Not a stage of its own: the next stage, the first that needs the account, could not start.
        next_stage = next((n for n in CODE_STAGES if n in wanted and n not in events.ended), None)
        if next_stage is not None:
            events.start(next_stage)
            events.end(next_stage, "error", duration_ms=result.stages[-1].duration_ms, summary=str(exc))
        return None

    # Checkov only reads files: it scans a snapshot while fmt, init and validate run.
    checkov_future: Future | None = None
    pool: ThreadPoolExecutor | None = None
    scan_copy: Path | None = None
    checkov_start = time.perf_counter()
    if "checkov_code" in wanted:
        clock.start("checkov_code")
        scan_copy = _snapshot(workdir) if snapshot else None
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkov-code")
        checkov_future = pool.submit(_checkov, scan_copy or workdir, "code", checkov_worker)

    try:
        if "fmt" in wanted:
            clock.start("fmt")
            start = time.perf_counter()
            if blocked(fmt_gate(runner), start):
                return None
        if "validate" in wanted:
            clock.start("validate")
            start = time.perf_counter()
            initialised = runner.init()
            if not initialised.ok:
                gate = init_failure_gate(initialised)
            else:
                if speculate is not None and not _scan_failed(checkov_future):
                    speculation = speculate(runner)
                validated = _plan_unless_scan_fails(speculation, checkov_future)
                gate = (plan_validation_gate(validated, speculation.lines) if validated else None) or (
                    validate_gate(runner)
                )
                gate.details["init_ms"] = initialised.duration_ms
            gate.duration_ms = int((time.perf_counter() - start) * 1000)
            note = f" (init {initialised.duration_ms} ms"
            if gate.details.get("validated_by"):
                note += "; validated by the plan's own validation pass"
            if blocked(gate, start, note=note + ")"):
                return None
        if checkov_future is not None:
            waited = time.perf_counter()
            gate = _result_of(checkov_future, "checkov_code")
            waited_ms = int((time.perf_counter() - waited) * 1000)
            note = f" (overlapped fmt/init/validate; waited {waited_ms} ms more)"
            if blocked(gate, checkov_start, gate.duration_ms, note=note):
                return None
    except BaseException:
        if speculation is not None:
            speculation.cancel()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if scan_copy is not None:
            shutil.rmtree(scan_copy.parent, ignore_errors=True)
    return runner


def _plan_unless_scan_fails(
    speculation: _SpeculativePlan | None, checkov_future: Future | None
) -> TerraformResult | None:
    """The speculative plan's result, or None (no plan, or checkov (code) failed first: plan cancelled).

    Waiting for the plan is waiting for the validate verdict; a failing code scan will block the run
    anyway, so the plan is stopped at once and `validate -json` gives the verdict instead.
    """
    if speculation is None:
        return None
    scan = checkov_future
    while not speculation.future.done():
        if scan is not None and scan.done():
            if _scan_failed(scan):
                speculation.cancel()
                return None
            scan = None  # passed: only the plan is left to wait for
        wait([f for f in (speculation.future, scan) if f is not None], return_when=FIRST_COMPLETED)
    return speculation.future.result()


def _scan_failed(future: Future | None) -> bool:
    """A finished checkov (code) scan that fails (or crashed, which fails closed)."""
    if future is None or not future.done():
        return False
    return future.exception() is not None or future.result().status == Status.FAIL


# --- the pipeline ----------------------------------------------------------------------------------------
def run_pipeline(
    spec: AnySpec,
    *,
    account: AwsAccount,
    config: Config | None,
    workdir: str | Path,
    on_line: Callable[[str], None] | None = None,
    request_budget: Budget | None = None,
    cancel_event: threading.Event | None = None,
    stages: Iterable[str] = STAGES,
    apply: bool = False,
    run_id: int | str | None = None,
    timeout: float | None = None,
    redactor: Redactor | None = None,
    on_stage: StageCallback | None = None,
) -> PipelineResult:
    """Render, gate and plan `spec` (a curated stack's or a composition's, see `iac.composed`) in
    `workdir` (must be missing or empty); see the module docstring.

    `stages` limits what runs (render and safety always run); a run with skipped gates can never be
    applied. `apply=True` applies the plan when every gate passed (tests and the CLI; the portal applies
    through an approval instead). `on_stage(stage, status, info)` is told live as each of `STAGES` (and
    "apply" with `apply=True`) starts and ends, see `iac.stage_events`; a callback raising
    `StageCancelled` stops the run (the exception propagates once running work is stopped).
    """
    wanted = set(stages)
    unknown = wanted - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s): {', '.join(sorted(unknown))}")
    # The warm Checkov for both scans (it only ever reads files); on a cold process it imports while
    # safety and fmt run.
    worker = _start_checkov_worker() if wanted & {"checkov_code", "checkov_plan"} else None
    return _run_pipeline(
        spec,
        account=account,
        config=config,
        workdir=workdir,
        on_line=on_line,
        request_budget=request_budget,
        cancel_event=cancel_event,
        wanted=wanted,
        apply=apply,
        run_id=run_id,
        timeout=timeout,
        redactor=redactor,
        checkov_worker=worker,
        events=StageEvents(on_stage, (*STAGES, "apply") if apply else STAGES),
    )


def _run_pipeline(
    spec: AnySpec,
    *,
    account: AwsAccount,
    config: Config | None,
    workdir: str | Path,
    on_line: Callable[[str], None] | None,
    request_budget: Budget | None,
    cancel_event: threading.Event | None,
    wanted: set[str],
    apply: bool,
    run_id: int | str | None,
    timeout: float | None,
    redactor: Redactor | None,
    checkov_worker: CheckovWorker | None,
    events: StageEvents,
) -> PipelineResult:
    overall = time.perf_counter()
    workdir = Path(workdir)
    result = PipelineResult(status=PipelineStatus.PASSED, spec_sha256=spec.sha256(), workdir=str(workdir))
    result.config_version = getattr(config, "version", None)
    clock = _Clock(result, events)
    redactor = redactor or run_redactor()

    def finish() -> PipelineResult:
        result.gate_digest = gate_digest(result.gates)
        result.total_ms = int((time.perf_counter() - overall) * 1000)
        for name in events.pending():
            if name not in wanted and name not in ("render", "safety", "apply"):
                events.end(name, "skipped", summary="not requested")
        broken = result.status in (PipelineStatus.FAILED, PipelineStatus.CANCELLED)
        events.skip_pending(_not_run_reason(result), cut_short="error" if broken else "skipped")
        return result

    def cancelled(stage: str) -> bool:
        if cancel_event is not None and cancel_event.is_set():
            result.status, result.error = PipelineStatus.CANCELLED, f"cancelled before {stage}"
            clock.add(Stage(stage, "cancelled"))
            return True
        return False

    def failed(
        stage: str, start: float, tf: TerraformResult | None = None, message: str = ""
    ) -> PipelineResult:
        if tf is not None and tf.category == Category.CANCELLED:
            result.status = PipelineStatus.CANCELLED
        else:
            result.status = PipelineStatus.FAILED
        result.error = message or (tf.message if tf else "") or f"{stage} failed"
        result.error_category = str(tf.category) if tf is not None and tf.category else None
        clock.record(stage, start, "failed", result.error)
        return finish()

    # 1. render
    clock.start("render")
    start = time.perf_counter()
    try:
        rendered = render_spec(spec, workdir, account=account)
    except (RenderError, SpecError, OSError) as exc:
        return failed("render", start, message=f"render failed: {exc}")
    result.render = rendered
    clock.record("render", start, detail=f"{len(rendered.files)} files, source {rendered.source_sha256[:12]}")

    # 2-5. safety, then (credentials, state backend) fmt, init/validate ∥ checkov (code)
    if cancelled("safety"):
        return finish()
    env: dict[str, str] = {}

    def make_runner() -> TerraformRunner:
        try:
            env.update(terraform_env(account, spec.region, run_id=run_id))
        except Exception as exc:  # AwsAccessError, sandbox down
            raise PrepareError("credentials", f"cannot reach the account: {exc}") from exc
        from iac.state import StateBackendError, ensure_backend

        try:  # sandbox: created on first use; real accounts: checked
            ensure_backend(spec.backend, account=account, endpoint=spec.sandbox_endpoint)
        except StateBackendError as exc:
            raise PrepareError("state_backend", str(exc)) from exc
        return TerraformRunner(
            workdir, env=env, on_line=on_line, cancel_event=cancel_event, timeout=timeout, redactor=redactor
        )

    # 6 (speculative). plan starts once init succeeded, beside checkov (code), and gives the validate
    # verdict: see _SpeculativePlan for why that is safe. It is discarded unless every code gate passes.
    speculative: _SpeculativePlan | None = None

    def speculate(initialised: TerraformRunner) -> _SpeculativePlan:
        nonlocal speculative
        speculative = _SpeculativePlan(initialised, PLAN_FILE, on_line=on_line, cancel_event=cancel_event)
        return speculative

    try:
        runner = run_code_gates(
            workdir,
            result,
            make_runner=make_runner,
            trusted_files=rendered.trusted_files,
            allowed_module_roots=[],  # the curated code is copied in: nothing outside the work dir
            stages=wanted,
            speculate=speculate if "plan" in wanted else None,
            on_stage=events,
            checkov_worker=checkov_worker,
        )
    except BaseException:
        if speculative is not None:
            speculative.discard()
        raise
    if runner is None:
        if speculative is not None or result.blocked_by in ("validate", "checkov_code"):
            # Blocked (or cancelled) after init: the plan is cancelled and discarded, nothing of it is
            # returned; the run is reported exactly as if it had never started.
            if speculative is not None:
                ran_ms = speculative.discard()
                stage = Stage("plan", "cancelled", ran_ms, "speculative plan cancelled and discarded")
            else:
                stage = Stage("plan", "skipped", 0, "not started")
            if result.blocked_by:
                stage.detail += f": blocked by {result.blocked_by}"
            clock.add(stage)
        if cancel_event is not None and cancel_event.is_set():  # a cancelled command, not a verdict
            result.status, result.blocked_by = PipelineStatus.CANCELLED, None
            result.error = result.error or "cancelled"
        return finish()
    if "plan" not in wanted:
        return finish()

    # 6. plan
    if speculative is None and cancelled("plan"):
        return finish()
    start = time.perf_counter()
    if speculative is not None:
        # Every code gate passed: the speculative plan is the run's plan.
        try:
            clock.start("plan", speculative=True)
        except BaseException:  # the callback stopped the run: never leave terraform running
            speculative.discard()
            raise
        speculative.go_live()
        plan = speculative.wait()
        plan_lines = speculative.lines
        waited_ms = int((time.perf_counter() - start) * 1000)
        plan_detail = f" (speculative: started after init, beside validate/checkov; waited {waited_ms} ms)"
        start = speculative.started
    else:
        clock.start("plan")
        plan_lines = []
        plan_detail = ""

        def collect(line: str) -> None:
            plan_lines.append(line)
            if on_line is not None:
                on_line(line)

        runner.on_line = collect  # the plan's own (redacted) rendering is the plan text: no second `show`
        try:
            plan = runner.plan(PLAN_FILE)
        finally:
            runner.on_line = on_line
    result.terraform["plan"] = plan.to_dict()
    result.plan_text = plan_text(plan_lines)
    if not plan.ok:
        return failed("plan", start, plan)
    result.changes = plan.changes
    result.plan_file = str(workdir / PLAN_FILE)
    result.plan_sha256 = plan.plan_sha256
    clock.record("plan", start, detail=("changes" if plan.changes else "no changes") + plan_detail)

    # 7. show -json (raw: the gates need real values)
    clock.start("show_json")
    start = time.perf_counter()
    shown = runner.show_json(PLAN_FILE)
    if not shown.ok:
        return failed("show_json", start, shown)
    result.plan_json = shown.json
    clock.record("show_json", start)
    if not plan.changes:
        # Nothing to approve or apply: the post-plan gates have nothing to judge.
        result.plan_json_redacted = redact_plan_json(shown.json, redactor)
        result.status = PipelineStatus.NO_CHANGES
        return finish()

    # 8-10. OPA, checkov (plan), cost and the redaction side by side; verdicts in gate order.
    post = [name for name in ("opa", "checkov_plan", "cost") if name in wanted]
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="gantry-gates") as pool:
        started = time.perf_counter()
        futures: dict[str, Future] = {}
        # The raw plan JSON goes to a private temp dir, not the work dir: it holds real values, and
        # checkov then skips "plan enrichment" (re-parsing the HCL to map resources to inline skip
        # comments), which costs seconds and cannot change the verdict: the gate honours only the
        # platform's skip list, passed explicitly, and reports any other skipped check as a failure.
        plan_json_dir = Path(tempfile.mkdtemp(prefix="gantry-plan-json-"))
        plan_json_path = plan_json_dir / PLAN_JSON_FILE
        if "opa" in post:
            from iac.gates.opa import opa_gate
            from iac.policy_data import policy_data

            data = policy_data(account=account, config=config, region=spec.region)
            clock.start("opa")
            futures["opa"] = pool.submit(opa_gate, shown.json, data)
        if "checkov_plan" in post:
            plan_json_path.write_text(json.dumps(shown.json), encoding="utf-8")
            plan_json_path.chmod(0o600)
            clock.start("checkov_plan")
            futures["checkov_plan"] = pool.submit(_checkov, plan_json_path, "plan", checkov_worker)
        if "cost" in post:
            from iac.gates.cost import cost_gate

            clock.start("cost")
            futures["cost"] = pool.submit(
                cost_gate,
                shown.json,
                region=spec.region,
                request_budget=request_budget,
                account_daily_limit=account.daily_budget,
                account_monthly_limit=account.monthly_budget,
                currency=account.budget_currency or "USD",
            )
        # Redact while the gates run.
        redact_start = time.perf_counter()
        result.plan_json_redacted = redact_plan_json(shown.json, redactor)
        redact_ms = int((time.perf_counter() - redact_start) * 1000)
        try:
            for name in post:
                gate = _result_of(futures[name], name)
                result.gates.append(gate)
                elapsed = int((time.perf_counter() - started) * 1000)
                failed = gate.status == Status.FAIL
                detail = f"{gate.summary} (done {elapsed} ms after show_json)"
                clock.add(Stage(name, "blocked" if failed else "ok", gate.duration_ms, detail), gate)
                if failed:
                    result.status, result.blocked_by = PipelineStatus.BLOCKED, name
                    for other in futures.values():
                        other.cancel()
                    break
            result.stages.append(Stage("redact_plan", "ok", redact_ms, "overlapped the post-plan gates"))
        finally:
            for future in futures.values():
                if not future.cancelled():
                    with contextlib.suppress(Exception):  # already reported through _result_of
                        future.result()
            shutil.rmtree(plan_json_dir, ignore_errors=True)
        post_ms = int((time.perf_counter() - started) * 1000)
    result.stages.append(Stage("post_plan_wall", "ok", post_ms, "opa ∥ checkov_plan ∥ cost ∥ redaction"))
    if result.status == PipelineStatus.BLOCKED:
        return finish()

    skipped = [name for name in STAGES if name not in wanted]
    if apply:
        if skipped:
            result.error = f"not applied: stages skipped ({', '.join(skipped)})"
            return finish()
        clock.start("apply")
        start = time.perf_counter()
        applied = apply_plan(
            workdir,
            PLAN_FILE,
            result.plan_sha256 or "",
            account=account,
            region=spec.region,
            run_id=run_id,
            on_line=on_line,
            cancel_event=cancel_event,
            redactor=redactor,
            env=env,
        )
        result.apply_result = applied
        result.terraform["apply"] = applied.to_dict()
        if not applied.ok:
            return failed("apply", start, applied)
        clock.record("apply", start)
        result.status = PipelineStatus.APPLIED
    return finish()


# --- apply and destroy -----------------------------------------------------------------------------------
def apply_plan(
    workdir: str | Path,
    planfile: str,
    expected_sha256: str,
    *,
    account: AwsAccount,
    region: str,
    run_id: int | str | None = None,
    on_line: Callable[[str], None] | None = None,
    cancel_event: threading.Event | None = None,
    timeout: float | None = None,
    redactor: Redactor | None = None,
    env: dict[str, str] | None = None,
) -> TerraformResult:
    """`terraform apply <planfile>` only when the plan file still has the approved sha256."""
    workdir = Path(workdir)
    path = workdir / planfile
    start = time.monotonic()
    actual = sha256_file(path) if path.is_file() else None
    if not expected_sha256 or actual != expected_sha256:
        return TerraformResult(
            command=["terraform", "apply", planfile],
            exit_code=None,
            duration_ms=int((time.monotonic() - start) * 1000),
            ok=False,
            category=Category.STALE_PLAN,
            message=(
                "no saved plan to apply"
                if actual is None
                else "plan file sha256 does not match the approved plan; refusing to apply"
            ),
            plan_sha256=actual,
        )
    runner = TerraformRunner(
        workdir,
        env=env if env is not None else terraform_env(account, region, run_id=run_id),
        on_line=on_line,
        cancel_event=cancel_event,
        timeout=timeout,
        redactor=redactor,
    )
    result = runner.apply(planfile)
    if result.plan_sha256 != expected_sha256:  # swapped between our check and terraform reading it
        result.ok, result.category = False, Category.STALE_PLAN
        result.message = "plan file changed while applying"
    return result


def destroy(
    workdir: str | Path,
    *,
    account: AwsAccount,
    region: str,
    run_id: int | str | None = None,
    on_line: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> TerraformResult:
    """Plan a destroy (`plan -destroy -out`) and apply exactly that plan (tests and sandbox cleanup)."""
    env = terraform_env(account, region, run_id=run_id)
    runner = TerraformRunner(Path(workdir), env=env, on_line=on_line, timeout=timeout)
    planned = runner.plan(DESTROY_PLAN_FILE, destroy=True)
    if not planned.ok:
        return planned
    return apply_plan(
        workdir,
        DESTROY_PLAN_FILE,
        planned.plan_sha256 or "",
        account=account,
        region=region,
        run_id=run_id,
        on_line=on_line,
        timeout=timeout,
        env=env,
    )


__all__ = [
    "CODE_STAGES",
    "GATE_ORDER",
    "STAGES",
    "PipelineResult",
    "PipelineStatus",
    "PrepareError",
    "Stage",
    "StageCallback",
    "StageCancelled",
    "apply_plan",
    "destroy",
    "format_report",
    "gate_digest",
    "plan_text",
    "platform_checkov_skips",
    "redact_plan_json",
    "run_code_gates",
    "run_pipeline",
    "terraform_env",
]


# --- reports ---------------------------------------------------------------------------------------------
_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def format_report(result: PipelineResult, *, title: str = "") -> str:
    """A readable report of a pipeline (or code-gate) run, for the management commands."""
    lines = [title] if title else []
    lines.append(
        f"status: {result.status}" + (f" (blocked by {result.blocked_by})" if result.blocked_by else "")
    )
    if result.error:
        lines.append(f"error: {result.error}")
    lines.append("")
    lines.append("gates:")
    for gate in result.gates:
        lines.append(f"  [{_MARK.get(str(gate.status), gate.status)}] {gate.name:<13} {gate.summary}")
        for finding in gate.findings[:50]:
            where = f" @ {finding.address}" if finding.address else ""
            kind = "blocking" if finding.blocking else "warning"
            lines.append(f"      - {finding.rule} ({finding.severity}, {kind}){where}: {finding.message}")
        if len(gate.findings) > 50:
            lines.append(f"      … {len(gate.findings) - 50} more")
    ran = {g.name for g in result.gates}
    not_run = [name for name in GATE_ORDER if name not in ran]
    if not_run and result.status != PipelineStatus.PASSED:
        lines.append(f"  not run: {', '.join(not_run)}")
    lines.append("")
    lines.append("stages (ms):")
    for stage in result.stages:
        detail = f"  {stage.detail}" if stage.detail else ""
        lines.append(f"  {stage.name:<16} {stage.duration_ms:>7}  {stage.status}{detail}")
    if result.render is not None:
        lines.append("")
        lines.append(f"source sha256: {result.render.source_sha256}")
    if result.plan_sha256:
        lines.append(f"plan sha256:   {result.plan_sha256} ({'changes' if result.changes else 'no changes'})")
    if result.gate_digest and result.gates:
        lines.append(f"gate digest:   {result.gate_digest}")
    if result.workdir:
        lines.append(f"work dir:      {result.workdir}")
    return "\n".join(lines) + "\n"
