"""`run_pipeline(on_stage=...)`: live stage events, in order, once each, harmless unless they cancel.

Most tests drive the real pipeline with terraform's provider-running commands (init, validate, plan,
show) replaced by canned results, so they check the event protocol quickly; one terraform test checks it
on a real run with the speculative plan.
"""

from __future__ import annotations

import logging
import threading

import pytest

from iac import pipeline as pipeline_module
from iac.gates import safety as safety_module
from iac.gates.base import Finding, GateResult, Severity, Status
from iac.pipeline import PLAN_FILE, STAGES, PipelineStatus, StageCancelled, gate_digest, run_pipeline
from iac.spec import build_spec
from iac.stage_events import END_STATUSES, StageEvents
from portal.testing.requirements import requires

STATIC_BUCKET = {"bucket_name": "acme-static-assets-canned"}  # as test_plan_validation: one real plan
GATE_STAGES = ("safety", "fmt", "validate", "checkov_code", "opa", "checkov_plan", "cost")
VERDICT = {Status.PASS: "passed", Status.WARN: "warned", Status.FAIL: "failed"}


class Recorder:
    def __init__(self, fail_with: type[BaseException] | None = None, at: tuple[str, str] | None = None):
        self.events: list[tuple[str, str, dict]] = []
        self.threads: set[int] = set()
        self.fail_with, self.at = fail_with, at

    def __call__(self, stage: str, status: str, info: dict) -> None:
        self.events.append((stage, status, info))
        self.threads.add(threading.get_ident())
        if self.fail_with is not None and (self.at is None or self.at == (stage, status)):
            raise self.fail_with(f"callback refused {stage} {status}")

    def ends(self) -> dict[str, tuple[str, dict]]:
        return {stage: (status, info) for stage, status, info in self.events if status != "started"}

    def started(self) -> list[str]:
        return [stage for stage, status, _ in self.events if status == "started"]


def assert_protocol(recorder: Recorder, stages=STAGES) -> None:
    """Each stage ends exactly once, after its start when it has one, with a duration and a summary."""
    seen_start: set[str] = set()
    ended: list[str] = []
    for stage, status, info in recorder.events:
        assert stage in stages
        if status == "started":
            assert stage not in seen_start and stage not in ended and info.get("speculative", True)
            seen_start.add(stage)
        else:
            assert status in END_STATUSES and stage not in ended
            assert isinstance(info["duration_ms"], int) and isinstance(info["summary"], str)
            if status != "skipped":
                assert stage in seen_start
            ended.append(stage)
    assert sorted(ended) == sorted(stages)
    assert recorder.threads == {threading.get_ident()}  # the caller's thread: safe for DB writes


def assert_gates_match(recorder: Recorder, result) -> None:
    ends = recorder.ends()
    for gate in result.gates:
        status, info = ends[gate.name]
        assert status == VERDICT[gate.status]
        assert info["gate"]["findings"] == gate.to_dict()["findings"]


def _spec(own):
    return build_spec(
        "static_bucket",
        STATIC_BUCKET,
        account=own.account,
        config=own.dev,
        sandbox_endpoint="http://127.0.0.1:1",
    )


@pytest.fixture
def no_budget(own):
    own.account.daily_budget = own.account.monthly_budget = None
    return own


# --- the protocol on whole runs --------------------------------------------------------------------------
def test_every_stage_starts_and_ends_once_in_gate_order(no_budget, tmp_path, canned_terraform):
    own = no_budget
    recorder = Recorder()
    result = run_pipeline(
        _spec(own), account=own.account, config=own.dev, workdir=tmp_path / "w", on_stage=recorder
    )

    assert_protocol(recorder)
    assert_gates_match(recorder, result)
    ends = recorder.ends()
    assert [name for name in recorder.ends() if name in GATE_STAGES] == [g.name for g in result.gates]
    assert ends["render"][0] == ends["plan"][0] == ends["show_json"][0] == "passed"
    # the speculative plan is announced only once every code gate passed, as the run's plan
    started = recorder.started()
    assert started.index("plan") > max(started.index(n) for n in ("fmt", "validate", "checkov_code"))
    plan_start = next(
        info for stage, status, info in recorder.events if (stage, status) == ("plan", "started")
    )
    assert plan_start == {"speculative": True}
    ended_order = [stage for stage, status, _ in recorder.events if status != "started"]
    assert ended_order.index("checkov_code") < ended_order.index("plan") < ended_order.index("show_json")
    assert ended_order.index("show_json") < ended_order.index("opa")
    # the stored stages say the same thing
    for stage in result.stages:
        if stage.name in STAGES:
            assert ends[stage.name][1]["duration_ms"] == stage.duration_ms


def test_a_raising_callback_changes_nothing(no_budget, tmp_path, canned_terraform, caplog):
    own = no_budget
    quiet = run_pipeline(_spec(own), account=own.account, config=own.dev, workdir=tmp_path / "a")
    loud = Recorder(fail_with=RuntimeError)
    with caplog.at_level(logging.ERROR, logger="iac.stage_events"):
        result = run_pipeline(
            _spec(own), account=own.account, config=own.dev, workdir=tmp_path / "b", on_stage=loud
        )

    assert result.status == quiet.status
    assert result.gate_digest == quiet.gate_digest == gate_digest(result.gates)
    assert [s.name for s in result.stages] == [s.name for s in quiet.stages]
    assert result.plan_sha256 == quiet.plan_sha256 and result.plan_json_redacted == quiet.plan_json_redacted
    assert_protocol(loud)  # it kept being told, once per event
    assert sum("on_stage callback failed" in r.getMessage() for r in caplog.records) == len(loud.events)


def test_a_cancelling_callback_discards_the_plan_and_propagates(own, tmp_path, canned_terraform):
    recorder = Recorder(fail_with=StageCancelled, at=("plan", "started"))
    workdir = tmp_path / "w"
    with pytest.raises(StageCancelled):
        run_pipeline(_spec(own), account=own.account, config=own.dev, workdir=workdir, on_stage=recorder)
    assert "show" not in canned_terraform
    assert not (workdir / PLAN_FILE).exists()
    assert recorder.events[-1][:2] == ("plan", "started")


def test_a_cancelling_callback_stops_a_running_plan(own, tmp_path, canned_terraform, monkeypatch):
    """An interruption while the plan gives the validate verdict stops terraform before propagating."""

    def interrupted(speculation, checkov_future):
        raise StageCancelled("worker shutting down")

    monkeypatch.setattr(pipeline_module, "_plan_unless_scan_fails", interrupted)
    workdir = tmp_path / "w"
    with pytest.raises(StageCancelled):
        run_pipeline(_spec(own), account=own.account, config=own.dev, workdir=workdir, on_stage=Recorder())
    assert "plan cancelled" in canned_terraform and "show" not in canned_terraform
    assert not (workdir / PLAN_FILE).exists()


def test_a_cancelling_callback_before_init_runs_no_terraform(own, tmp_path, canned_terraform):
    recorder = Recorder(fail_with=StageCancelled, at=("safety", "passed"))
    with pytest.raises(StageCancelled):
        run_pipeline(
            _spec(own), account=own.account, config=own.dev, workdir=tmp_path / "w", on_stage=recorder
        )
    assert canned_terraform == []


def test_a_blocked_gate_fails_its_stage_and_skips_the_rest(own, tmp_path, canned_terraform, monkeypatch):
    blocked = GateResult(name="safety", summary="1 blocked construct")
    blocked.add(Finding("data-external", "runs a program", Severity.CRITICAL, "main.tf:3"))
    monkeypatch.setattr(safety_module, "safety_gate", lambda *a, **k: blocked)
    recorder = Recorder()
    result = run_pipeline(
        _spec(own), account=own.account, config=own.dev, workdir=tmp_path / "w", on_stage=recorder
    )

    assert result.status == PipelineStatus.BLOCKED and canned_terraform == []
    assert_protocol(recorder)
    ends = recorder.ends()
    assert (
        ends["safety"][0] == "failed" and ends["safety"][1]["gate"]["findings"][0]["rule"] == "data-external"
    )
    assert recorder.started() == ["render", "safety"]
    for name in STAGES[STAGES.index("fmt") :]:
        assert ends[name] == ("skipped", {"duration_ms": 0, "summary": "not run: blocked by safety"})


def test_a_blocking_post_plan_gate_discards_the_verdicts_after_it(
    no_budget, tmp_path, canned_terraform, monkeypatch
):
    own = no_budget
    failing = GateResult(name="opa", summary="1 violation")
    failing.add(Finding("mandatory_tags", "missing Owner", Severity.HIGH, "aws_s3_bucket.b"))
    monkeypatch.setattr("iac.gates.opa.opa_gate", lambda plan, data: failing)
    recorder = Recorder()
    result = run_pipeline(
        _spec(own), account=own.account, config=own.dev, workdir=tmp_path / "w", on_stage=recorder
    )

    assert result.blocked_by == "opa"
    assert_protocol(recorder)
    ends = recorder.ends()
    assert ends["opa"][0] == "failed"
    assert (
        ends["checkov_plan"]
        == ends["cost"]
        == ("skipped", {"duration_ms": 0, "summary": "not run: blocked by opa"})
    )


def test_an_unreachable_account_is_an_error_on_the_first_stage_that_needs_it(own, tmp_path, settings):
    settings.GANTRY_SANDBOX_ENDPOINT = "http://127.0.0.1:9"  # nothing listens
    from tenants.aws import clear_cache

    clear_cache()
    spec = build_spec("static_bucket", STATIC_BUCKET, account=own.account, config=own.dev)
    recorder = Recorder()
    result = run_pipeline(
        spec, account=own.account, config=own.dev, workdir=tmp_path / "w", on_stage=recorder
    )
    assert result.status == PipelineStatus.FAILED
    assert_protocol(recorder)
    ends = recorder.ends()
    assert ends["safety"][0] == "passed"
    assert ends["fmt"][0] == "error" and "cannot reach the account" in ends["fmt"][1]["summary"]
    assert {ends[name][0] for name in STAGES[STAGES.index("validate") :]} == {"skipped"}


def test_unrequested_stages_are_reported_skipped(own, tmp_path, canned_terraform):
    recorder = Recorder()
    wanted = ("render", "safety", "fmt")
    run_pipeline(
        _spec(own),
        account=own.account,
        config=own.dev,
        workdir=tmp_path / "w",
        stages=wanted,
        on_stage=recorder,
    )
    assert_protocol(recorder)
    assert recorder.started() == ["render", "safety", "fmt"]
    assert recorder.ends()["validate"] == ("skipped", {"duration_ms": 0, "summary": "not requested"})


def test_a_cancelled_run_ends_its_stages_without_verdicts(own, tmp_path, canned_terraform):
    event = threading.Event()
    event.set()
    recorder = Recorder()
    result = run_pipeline(
        _spec(own),
        account=own.account,
        config=own.dev,
        workdir=tmp_path / "w",
        cancel_event=event,
        on_stage=recorder,
    )
    assert result.status == PipelineStatus.CANCELLED
    assert_protocol(recorder)
    assert {status for stage, (status, _) in recorder.ends().items() if stage != "render"} == {"skipped"}


# --- the notifier itself ---------------------------------------------------------------------------------
def test_stage_events_end_each_stage_once_and_map_statuses():
    recorder = Recorder()
    events = StageEvents(recorder, ("a", "b", "c", "d", "e"))
    events.start("a")
    events.start("a")
    events.start("nope")  # not one of the stages: ignored
    events.end_stage("a", "ok", duration_ms=3, summary="fine", gate={"status": "warn", "findings": []})
    events.end_stage("a", "blocked", duration_ms=3, summary="again")  # already ended
    events.start("b")
    events.end_stage("b", "failed", duration_ms=1, summary="terraform failed")
    events.end_stage("c", "cancelled", duration_ms=0, summary="cancelled before c")
    crashed = {"status": "fail", "findings": [{"rule": "gate-crashed"}]}
    events.start("d")
    events.end_stage("d", "ok", duration_ms=0, summary="x", gate=crashed)
    assert [(s, st) for s, st, _ in recorder.events] == [
        ("a", "started"),
        ("a", "warned"),
        ("b", "started"),
        ("b", "error"),
        ("c", "skipped"),
        ("d", "started"),
        ("d", "error"),
    ]
    assert events.pending() == ["e"]
    with pytest.raises(ValueError, match="not a stage end status"):
        events.end("e", "cancelled")


def test_base_exceptions_from_the_callback_are_not_swallowed():
    events = StageEvents(Recorder(fail_with=KeyboardInterrupt), ("a",))
    with pytest.raises(KeyboardInterrupt):
        events.start("a")


# --- a real run ------------------------------------------------------------------------------------------
@pytest.mark.terraform
@requires("terraform")
def test_events_of_a_real_run(own, tmp_path, sandbox_settings):
    recorder = Recorder()
    spec = build_spec("static_bucket", STATIC_BUCKET, account=own.account, config=own.dev)
    result = run_pipeline(
        spec, account=own.account, config=own.dev, workdir=tmp_path / "w", on_stage=recorder
    )
    assert result.status == PipelineStatus.PASSED, result.error or result.blocked_by
    assert_protocol(recorder)
    assert_gates_match(recorder, result)
    assert {status for status, _ in recorder.ends().values()} <= {"passed", "warned"}
