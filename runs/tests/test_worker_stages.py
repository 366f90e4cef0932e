"""Live stage status: the pipeline's `on_stage` events reach the run row as they happen, and the run moves
validating → planning → policy_check when the plan, then the first policy gate, starts."""

from __future__ import annotations

import pytest

from iac.pipeline import PipelineStatus
from iac.stage_events import StageCancelled
from runs import terraform_engine, worker
from runs.models import Run, RunEvent
from runs.services import lease_acquire, run_cancel
from runs.states import RunStatus
from runs.tests.factories import RunFactory
from runs.tests.test_worker import FakePipeline, queued_run

S = RunStatus


@pytest.fixture
def fake(monkeypatch):
    pipeline = FakePipeline()
    monkeypatch.setattr(terraform_engine, "_pipeline", lambda: pipeline)
    return pipeline


def leased_run(world, status=S.VALIDATING):
    run = RunFactory(config=world.dev, status=status)
    return run, lease_acquire(run.pk, statuses=[status])


def test_stages_are_written_as_they_happen(own):
    run, token = leased_run(own)
    record = worker.StageRecorder(run.pk, token, {"generate": {"status": "passed", "ms": 3}})

    record("render", "started", {})
    row = Run.objects.get(pk=run.pk)
    assert row.stage_timings["render"]["status"] == "running" and row.status == S.VALIDATING
    record("render", "passed", {"duration_ms": 12, "summary": "3 files"})
    record("validate", "started", {})
    row = Run.objects.get(pk=run.pk)
    assert row.stage_timings["render"] == {**row.stage_timings["render"], "status": "passed", "ms": 12}
    assert row.stage_timings["generate"] == {"status": "passed", "ms": 3}
    assert row.stage_timings["validate"]["status"] == "running"

    record("validate", "passed", {"duration_ms": 900})
    record("plan", "started", {})
    row = Run.objects.get(pk=run.pk)
    assert row.status == S.PLANNING and row.stage_timings["plan"]["status"] == "running"
    record("plan", "passed", {"duration_ms": 2000})
    record("show_json", "started", {})
    assert Run.objects.get(pk=run.pk).status == S.PLANNING  # still planning: no second event
    record("opa", "started", {})
    assert Run.objects.get(pk=run.pk).status == S.POLICY_CHECK
    record("checkov_plan", "started", {})
    events = list(RunEvent.objects.filter(run=run).values_list("to_status", flat=True))
    assert events == [S.PLANNING, S.POLICY_CHECK]


def test_a_policy_gate_starting_first_walks_through_planning(own):
    run, token = leased_run(own)
    worker.StageRecorder(run.pk, token)("opa", "started", {})
    events = list(RunEvent.objects.filter(run=run).values_list("to_status", flat=True))
    assert events == [S.PLANNING, S.POLICY_CHECK]


def test_a_lost_lease_stops_the_pipeline(own):
    run, _token = leased_run(own)
    record = worker.StageRecorder(run.pk, "another worker's token")
    with pytest.raises(StageCancelled):
        record("render", "started", {})
    assert Run.objects.get(pk=run.pk).stage_timings == {}


def test_a_cancelled_run_stops_the_pipeline_at_the_next_stage(own, fake):
    run = queued_run(own)
    worker.run_generate(run.pk, tenant_id=own.tenant.pk)

    def cancel_then_report(cancel_event):
        run_cancel(user=own.user("operator"), run_id=run.pk)
        fake.on_stage("render", "started", {})  # raises StageCancelled, as run_pipeline lets it through

    fake.on_run = cancel_then_report
    assert worker.run_plan(run.pk, tenant_id=own.tenant.pk) == "cancelled"
    run.refresh_from_db()
    assert run.status == S.CANCELLED and run.worker_lease == ""


def test_run_plan_passes_the_recorder_and_keeps_live_timings(own, fake):
    run = queued_run(own)
    worker.run_generate(run.pk, tenant_id=own.tenant.pk)

    def live(cancel_event):
        fake.on_stage("render", "started", {})
        fake.on_stage("render", "passed", {"duration_ms": 5})
        fake.on_stage("plan", "started", {})
        assert Run.objects.get(pk=run.pk).status == S.PLANNING  # live, before the pipeline returns

    fake.on_run = live
    assert worker.run_plan(run.pk, tenant_id=own.tenant.pk) == S.AWAITING_APPROVAL
    run.refresh_from_db()
    timings = run.stage_timings
    assert timings["render"]["status"] == "passed" and timings["render"]["ms"] == 5
    assert timings["plan"]["status"] == "passed" and timings["plan"]["ms"] == 50  # completed from the result
    assert timings["generate"]["status"] == "passed"
    assert timings["pipeline_total"]["status"] == PipelineStatus.PASSED
    statuses = list(run.events.values_list("to_status", flat=True))
    assert statuses == [S.QUEUED, S.GENERATING, S.VALIDATING, S.PLANNING, S.POLICY_CHECK, S.AWAITING_APPROVAL]


def test_a_retried_plan_starts_its_timings_afresh(own, fake):
    fake.outcome, fake.error = PipelineStatus.FAILED, "ThrottlingException: Rate exceeded"
    run = queued_run(own)
    worker.run_generate(run.pk, tenant_id=own.tenant.pk)

    def stale_stage(cancel_event):
        fake.on_stage("checkov_code", "started", {})

    fake.on_run = stale_stage
    with pytest.raises(worker.TransientError):
        worker.run_plan(run.pk, tenant_id=own.tenant.pk, final_attempt=False)
    assert Run.objects.get(pk=run.pk).stage_timings["checkov_code"]["status"] == "running"
    fake.outcome, fake.error, fake.on_run = PipelineStatus.PASSED, "", None
    assert worker.run_plan(run.pk, tenant_id=own.tenant.pk) == S.AWAITING_APPROVAL
    assert "checkov_code" not in Run.objects.get(pk=run.pk).stage_timings
