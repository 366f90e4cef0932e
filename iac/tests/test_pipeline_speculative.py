"""Speculative plan and warm Checkov: faster, with every gate's verdict and the reported order unchanged.

- plan starts once `terraform init` succeeded, beside checkov (code), and its own validation pass gives
  the validate verdict (`terraform validate -json` only when it fails or prints a diagnostic); when
  validate or checkov (code) fails the plan is cancelled (a real terraform process, stopped by the
  runner) and discarded: the run is blocked at that gate exactly as before and returns no plan artifacts;
- the warm Checkov worker finds what the CLI finds, falls back to the CLI, and is always stopped.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from iac import pipeline as pipeline_module
from iac import spec as spec_module
from iac.gates import checkov as checkov_module
from iac.gates.base import Finding, GateResult, Severity, Status
from iac.gates.checkov import CheckovWorker, _checkov_bin, checkov_gate
from iac.pipeline import PLAN_FILE, PipelineStatus, gate_digest, run_pipeline
from iac.spec import build_spec
from iac.terraform import Category, TerraformResult, TerraformRunner
from portal.testing.requirements import requires

STATIC_BUCKET = {"bucket_name": "acme-static-assets-speculative"}
REPO_IAC = Path(spec_module.__file__).resolve().parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "safe" / "insecure_bucket_for_checkov"
HAS_CHECKOV = Path(_checkov_bin()).exists()


class PlanSpy:
    """Wraps the real `TerraformRunner.plan`: records that it started and how it ended."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.results: list[TerraformResult] = []
        real = TerraformRunner.plan

        def plan(runner: TerraformRunner, *args, **kwargs) -> TerraformResult:
            self.started.set()
            result = real(runner, *args, **kwargs)
            self.results.append(result)
            return result

        monkeypatch.setattr(TerraformRunner, "plan", plan)

    def wait_started(self) -> None:
        assert self.started.wait(120), "the speculative plan never started"
        time.sleep(0.5)  # let terraform get going: the cancellation must stop a running process


def _validate_result(*, ok: bool) -> TerraformResult:
    diagnostics = (
        []
        if ok
        else [
            {
                "severity": "error",
                "summary": "Unsupported argument",
                "detail": 'An argument named "nope" is not expected here.',
                "range": {"filename": "main.tf", "start": {"line": 3}},
            }
        ]
    )
    return TerraformResult(
        command=["terraform", "validate", "-json"],
        exit_code=0 if ok else 1,
        duration_ms=1,
        ok=ok,
        category=None if ok else Category.INVALID_CONFIG,
        message="" if ok else "Unsupported argument",
        json={"valid": ok, "diagnostics": diagnostics},
        diagnostics=diagnostics,
    )


def _assert_blocked_and_discarded(result, workdir: Path, spy: PlanSpy, gate: str) -> None:
    assert result.status == PipelineStatus.BLOCKED and result.blocked_by == gate
    assert [g.name for g in result.gates] == ["safety", "fmt", "validate", "checkov_code"][
        : ["safety", "fmt", "validate", "checkov_code"].index(gate) + 1
    ]
    assert result.gates[-1].status == Status.FAIL
    assert all(g.status == Status.PASS for g in result.gates[:-1])
    # the plan really ran and was stopped, not left to finish
    assert len(spy.results) == 1 and spy.results[0].category == Category.CANCELLED
    plan_stage = result.stage("plan")
    assert plan_stage is not None and plan_stage.status == "cancelled"
    assert f"blocked by {gate}" in plan_stage.detail
    assert result.stages[-1] is plan_stage  # nothing later ran
    # no plan artifacts returned or left behind
    assert not (workdir / PLAN_FILE).exists()
    assert result.plan_file is None and result.plan_sha256 is None and result.plan_json is None
    assert result.plan_text == "" and result.changes is None and "plan" not in result.terraform
    assert result.gate_digest == gate_digest(result.gates)


@pytest.mark.terraform
@requires("terraform")
def test_checkov_code_failure_cancels_and_discards_the_speculative_plan(
    own, tmp_path, sandbox_settings, monkeypatch
):
    spy = PlanSpy(monkeypatch)
    failing = GateResult(name="checkov_code", summary="1 failed")
    failing.add(Finding("CKV_AWS_1", "bad", Severity.HIGH))

    def slow_failing_checkov(target, kind, worker=None):
        spy.wait_started()  # fail only once the plan is under way
        return failing

    monkeypatch.setattr(pipeline_module, "_checkov", slow_failing_checkov)
    monkeypatch.setattr(TerraformRunner, "validate", lambda self: _validate_result(ok=True))
    lines: list[str] = []
    spec = build_spec("static_bucket", STATIC_BUCKET, account=own.account, config=own.dev)
    workdir = tmp_path / "w"
    result = run_pipeline(spec, account=own.account, config=own.dev, workdir=workdir, on_line=lines.append)

    _assert_blocked_and_discarded(result, workdir, spy, "checkov_code")
    assert not any("Terraform will perform" in line or "Plan:" in line for line in lines)


@pytest.fixture
def invalid_iac(tmp_path, monkeypatch):
    """A copy of the curated code whose static_bucket stack passes safety and fmt but not validation."""
    root = tmp_path / "iac"
    shutil.copytree(REPO_IAC / "modules", root / "modules")
    shutil.copytree(REPO_IAC / "stacks" / "static_bucket", root / "stacks" / "static_bucket")
    with (root / "stacks" / "static_bucket" / "main.tf").open("a") as handle:
        handle.write('\nresource "aws_sns_topic" "invalid" {\n  name = "x"\n  nope = true\n}\n')
    monkeypatch.setattr(spec_module, "IAC_ROOT", root)
    return root


@pytest.mark.terraform
@requires("terraform")
def test_invalid_configuration_is_blocked_at_validate_with_validates_diagnostics(
    own, tmp_path, sandbox_settings, monkeypatch, invalid_iac
):
    """The plan's own validation fails; `terraform validate -json` then gives the structured verdict."""
    spy = PlanSpy(monkeypatch)
    validations = []
    real_validate = TerraformRunner.validate
    monkeypatch.setattr(
        TerraformRunner, "validate", lambda self: validations.append(1) or real_validate(self)
    )
    passing = GateResult(name="checkov_code", summary="0 failed")
    monkeypatch.setattr(pipeline_module, "_checkov", lambda target, kind, worker=None: passing)
    spec = build_spec("static_bucket", STATIC_BUCKET, account=own.account, config=own.dev)
    workdir = tmp_path / "w"
    result = run_pipeline(spec, account=own.account, config=own.dev, workdir=workdir)

    assert result.status == PipelineStatus.BLOCKED and result.blocked_by == "validate"
    assert [g.name for g in result.gates] == ["safety", "fmt", "validate"]
    validate = result.gate("validate")
    assert validate.status == Status.FAIL and validations == [1]
    finding = validate.findings[0]
    assert finding.rule == "terraform-validate" and "nope" in finding.message
    assert finding.address.startswith("main.tf:") or "/main.tf:" in finding.address
    # the plan ran (and failed on the same validation); nothing of it is returned or left behind
    assert len(spy.results) == 1 and not spy.results[0].ok
    assert result.stage("plan").status == "cancelled" and "blocked by validate" in result.stage("plan").detail
    assert not (workdir / PLAN_FILE).exists()
    assert result.plan_sha256 is None and result.plan_json is None and result.plan_text == ""


@pytest.mark.terraform
@requires("terraform")
def test_no_speculation_before_safety_or_when_checkov_already_failed(own, tmp_path, monkeypatch):
    """The plan never starts ahead of a verdict that is already in: a failed scan stops it from starting."""
    failing = GateResult(name="checkov_code", summary="1 failed")
    failing.add(Finding("CKV_AWS_1", "bad", Severity.HIGH))
    monkeypatch.setattr(pipeline_module, "_checkov", lambda target, kind, worker=None: failing)
    calls = []
    monkeypatch.setattr(TerraformRunner, "plan", lambda *a, **k: calls.append("plan"))
    monkeypatch.setattr(TerraformRunner, "validate", lambda self: _validate_result(ok=True))
    monkeypatch.setattr(
        TerraformRunner,
        "init",
        lambda self, **k: TerraformResult(command=["terraform", "init"], exit_code=0, duration_ms=1, ok=True),
    )
    monkeypatch.setattr(pipeline_module, "terraform_env", lambda *a, **k: {})
    monkeypatch.setattr("iac.state.ensure_backend", lambda *a, **k: None)
    spec = build_spec(
        "static_bucket",
        STATIC_BUCKET,
        account=own.account,
        config=own.dev,
        sandbox_endpoint="http://127.0.0.1:1",
    )
    result = run_pipeline(spec, account=own.account, config=own.dev, workdir=tmp_path / "w")
    assert result.status == PipelineStatus.BLOCKED and result.blocked_by == "checkov_code"
    assert calls == []
    assert result.stage("plan").status == "skipped"


# --- warm checkov ------------------------------------------------------------------------------------------
def _comparable(gate: GateResult) -> dict:
    data = gate.to_dict()
    data.pop("duration_ms")
    # Checkov's own output order varies from run to run (the CLI's too): compare the findings as a set.
    data["findings"] = sorted(data["findings"], key=lambda f: (f["rule"], f["address"], f["message"]))
    return data


@requires("checkov")
@pytest.mark.parametrize(
    ("target", "kind", "skips"),
    [
        (FIXTURE, "code", {"CKV_AWS_18": "access logs go to the central log bucket"}),
        (FIXTURE / "plan.json", "plan", {"CKV_AWS_21": "versioning is enforced elsewhere"}),
    ],
)
def test_warm_worker_finds_what_the_cli_finds(target, kind, skips):
    cli = checkov_gate(target, kind=kind, skip_checks=skips)
    with CheckovWorker.start() as worker:
        warm = worker.gate(target, kind=kind, skip_checks=skips)
    assert warm.status == cli.status == Status.FAIL
    assert _comparable(warm) == _comparable(cli)
    assert worker.proc.poll() is not None  # stopped


@requires("checkov")
def test_one_warm_worker_serves_the_code_and_the_plan_scan_like_the_cli():
    """Both of a run's scans share one import; each runs in a fresh fork, so nothing carries over."""
    code_skips = {"CKV_AWS_18": "access logs go to the central log bucket"}
    plan_skips = {"CKV_AWS_21": "versioning is enforced elsewhere"}
    with CheckovWorker.start() as worker:
        code = worker.gate(FIXTURE, kind="code", skip_checks=code_skips)
        plan = worker.gate(FIXTURE / "plan.json", kind="plan", skip_checks=plan_skips)
        again = worker.gate(FIXTURE, kind="code", skip_checks=code_skips)
        assert worker.proc.poll() is None  # the same process served all three
    assert (
        _comparable(code) == _comparable(again) == _comparable(checkov_gate(FIXTURE, skip_checks=code_skips))
    )
    assert _comparable(plan) == _comparable(
        checkov_gate(FIXTURE / "plan.json", kind="plan", skip_checks=plan_skips)
    )
    assert worker.proc.poll() is not None


@requires("checkov")
def test_the_shared_worker_lives_across_runs_and_is_replaced_when_it_dies():
    first = CheckovWorker.shared()
    assert first is not None and CheckovWorker.shared() is first
    first.gate(FIXTURE / "plan.json", kind="plan")
    assert CheckovWorker.shared() is first  # a scan does not use it up
    first.close()
    second = CheckovWorker.shared()
    assert second is not None and second is not first and second.usable()


@requires("checkov")
def test_a_broken_worker_falls_back_to_the_cli(monkeypatch, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(checkov_module, "WORKER_SCRIPT", script)
    worker = CheckovWorker.start()
    assert worker is not None
    try:
        gate = worker.gate(FIXTURE / "plan.json", kind="plan")
    finally:
        worker.close()
    assert gate.status == Status.FAIL and "CKV_AWS_21" in {f.rule for f in gate.findings}


def test_no_worker_without_a_venv_python(settings, tmp_path):
    settings.CHECKOV_BIN = str(tmp_path / "bin" / "checkov")
    assert CheckovWorker.start() is None
    assert checkov_gate(FIXTURE).findings[0].rule == "checkov-missing"


@requires("checkov")
def test_an_unused_worker_is_stopped_with_its_process_group():
    worker = CheckovWorker.start()
    assert worker is not None
    worker.close()
    assert worker.proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(worker.proc.pid, 0)


def test_gate_digest_ignores_the_order_of_findings():
    from iac.gates.base import Finding, GateResult
    from iac.pipeline import gate_digest

    a, b = Finding(rule="CKV_AWS_1", message="one"), Finding(rule="CKV_AWS_2", message="two")
    first, second = GateResult(name="checkov_plan"), GateResult(name="checkov_plan")
    first.add(a)
    first.add(b)
    second.add(b)
    second.add(a)
    assert gate_digest([first]) == gate_digest([second])
    changed = GateResult(name="checkov_plan")
    changed.add(a)
    assert gate_digest([changed]) != gate_digest([first])
