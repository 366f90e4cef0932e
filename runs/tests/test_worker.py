"""The workers' side with a stand-in for the Terraform pipeline: generate → plan → approve → apply, the
apply guard, duplicate deliveries, tenant checks on task ids, transient retries, cancellation, heartbeat."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.utils import timezone

from iac.composed import parse_spec, render_spec
from iac.gates.base import Finding
from iac.gates.base import GateResult as Gate
from iac.pipeline import PipelineResult, PipelineStatus, Stage, gate_digest
from runs import artifacts, tasks, terraform_engine, worker
from runs.approvals import run_approve
from runs.models import AppliedPlan, Approval, Artifact, GateResult, Run, WorkspaceLock
from runs.services import lease_acquire, run_cancel, run_create, run_request_apply, transition
from runs.states import RunStatus
from runs.tests.factories import RunFactory, planned_run
from tenants.services import config_update

S = RunStatus
REQUEST = "create an s3 bucket named acme-logs"


class FakePipeline:
    """run_pipeline/apply_plan/terraform_env with canned outcomes; records calls."""

    def __init__(self, outcome=PipelineStatus.PASSED, *, gates=None, error="", raises=None, blocked_by=None):
        self.outcome, self.error, self.raises, self.blocked_by = outcome, error, raises, blocked_by
        self.gates = gates
        self.calls: list[str] = []
        self.applied: list[str] = []
        self.apply_ok = True
        self.on_run = None

    def terraform_env(self, account, region, run_id=None):
        return {}

    def run_pipeline(
        self, spec, *, account, config, workdir, on_line, request_budget, cancel_event, run_id, on_stage=None
    ):
        self.calls.append(str(workdir))
        self.on_stage = on_stage
        if self.on_run:
            self.on_run(cancel_event)
        if self.raises:
            raise self.raises
        workdir = Path(workdir)
        assert not workdir.exists() or not any(workdir.iterdir()), (
            "each attempt starts from an empty work dir"
        )
        render = render_spec(spec, workdir)  # the real source, so the run records its real digest
        (workdir / ".terraform").mkdir()
        plan = workdir / "plan.tfplan"
        plan.write_bytes(b"plan for " + spec.sha256().encode())
        on_line("Plan: 1 to add, 0 to change, 0 to destroy.")
        gates = (
            self.gates
            if self.gates is not None
            else [Gate("safety"), Gate("opa"), Gate("cost", details={"monthly": "1.00"})]
        )
        result = PipelineResult(
            status=self.outcome,
            spec_sha256=spec.sha256(),
            workdir=str(workdir),
            render=render,
            stages=[Stage("render", "ok", 5), Stage("plan", "ok", 50)],
            gates=gates,
            changes=self.outcome != PipelineStatus.NO_CHANGES,
            plan_file=str(plan),
            plan_sha256=hashlib.sha256(plan.read_bytes()).hexdigest(),
            plan_json_redacted={"resource_changes": [{"change": {"actions": ["create"]}}]},
            plan_text="+ resource",
            gate_digest=gate_digest(gates),
            config_version=config.version,
            error=self.error,
            blocked_by=self.blocked_by,
        )
        if self.outcome == PipelineStatus.FAILED:
            result.stages.append(Stage("validate", "failed", 1, self.error))
        return result

    def apply_plan(self, workdir, planfile, expected_sha256, *, account, region, run_id, on_line):
        self.applied.append(expected_sha256)
        on_line("Apply complete! Resources: 1 added.")
        return SimpleNamespace(
            ok=self.apply_ok, message="" if self.apply_ok else "boom", category=None, duration_ms=7
        )


@pytest.fixture
def fake(monkeypatch):
    pipeline = FakePipeline()
    monkeypatch.setattr(terraform_engine, "_pipeline", lambda: pipeline)
    monkeypatch.setattr(
        "runs.apply.read_outputs",
        lambda workdir, env: {"bucket_id": {"value": "acme-logs", "sensitive": False, "type": "string"}},
    )
    return pipeline


def queued_run(world, text=REQUEST):
    return run_create(user=world.user("operator"), config_id=world.dev.pk, request_text=text)


def generate_and_plan(run):
    assert worker.run_generate(run.pk, tenant_id=run.tenant_id) == S.VALIDATING
    return worker.run_plan(run.pk, tenant_id=run.tenant_id)


# --- the happy path ---------------------------------------------------------------------------------


def test_request_to_applied(own, fake, sent, tmp_path):
    run = queued_run(own)
    assert generate_and_plan(run) == S.AWAITING_APPROVAL
    run.refresh_from_db()
    assert run.spec["stack"] == "static_bucket" and run.agent == "infra"
    plan_file = Path(fake.calls[-1]) / "plan.tfplan"
    assert run.spec_sha256 == parse_spec(run.spec).sha256()
    assert run.plan_sha256 == hashlib.sha256(plan_file.read_bytes()).hexdigest()
    assert run.source_sha256 == render_spec(parse_spec(run.spec), tmp_path / "again").source_sha256
    assert run.config_version == own.dev.version
    assert run.gate_digest == gate_digest(
        [Gate("safety"), Gate("opa"), Gate("cost", details={"monthly": "1.00"})]
    )
    assert run.plan_summary["add"] == 1 and run.cost_estimate == {"monthly": "1.00"}
    assert {"generate", "render", "plan"} <= set(run.stage_timings)
    assert list(GateResult.objects.filter(run=run).values_list("name", flat=True)) == [
        "safety",
        "opa",
        "cost",
    ]
    kinds = set(Artifact.objects.filter(run=run).values_list("kind", flat=True))
    assert kinds == {
        "source_archive",
        "plan_file",
        "plan_json_redacted",
        "plan_text",
        "gate_report",
        "cost_report",
    }
    assert all(a.key.startswith(f"tenants/{own.tenant.pk}/runs/{run.pk}/") for a in Artifact.objects.all())
    statuses = list(run.events.values_list("to_status", flat=True))
    assert statuses == [S.QUEUED, S.GENERATING, S.VALIDATING, S.PLANNING, S.POLICY_CHECK, S.AWAITING_APPROVAL]
    assert not WorkspaceLock.objects.exists()  # released while people decide
    assert run.worker_lease == ""

    run_approve(user=own.user("approver"), run_id=run.pk)
    run_request_apply(user=own.user("operator"), run_id=run.pk)
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.APPLIED
    run.refresh_from_db()
    assert run.status == S.APPLIED and run.apply_started_at and fake.applied == [run.plan_sha256]
    assert AppliedPlan.objects.get(run=run).plan_sha256 == run.plan_sha256
    assert Artifact.objects.filter(run=run, kind="apply_log").exists()
    assert not WorkspaceLock.objects.exists()
    # a second delivery of the same apply task does nothing
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == "noop"
    assert fake.applied == [run.plan_sha256]


def test_apply_failure_is_failed_and_never_retried(own, fake):
    run = queued_run(own)
    generate_and_plan(run)
    run_approve(user=own.user("approver"), run_id=run.pk)
    fake.apply_ok = False
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.FAILED
    run.refresh_from_db()
    assert run.error == "boom"
    assert tasks.run_apply.max_retries == 0


# --- outcomes of the plan ---------------------------------------------------------------------------


def test_blocked_by_a_code_gate_stays_in_validating(own, fake):
    fake.outcome, fake.blocked_by = PipelineStatus.BLOCKED, "safety"
    failed = Gate("safety")
    failed.add(Finding("provisioner", "no provisioners"))
    fake.gates = [failed]
    run = queued_run(own)
    assert generate_and_plan(run) == S.BLOCKED
    run.refresh_from_db()
    assert list(run.events.values_list("to_status", flat=True))[-2:] == [S.VALIDATING, S.BLOCKED]
    assert GateResult.objects.get(run=run).status == "fail"
    assert not WorkspaceLock.objects.exists()


def test_blocked_by_policy_goes_through_policy_check(own, fake):
    fake.outcome, fake.blocked_by = PipelineStatus.BLOCKED, "opa"
    run = queued_run(own)
    assert generate_and_plan(run) == S.BLOCKED
    statuses = list(Run.objects.get(pk=run.pk).events.values_list("to_status", flat=True))
    assert statuses[-3:] == [S.PLANNING, S.POLICY_CHECK, S.BLOCKED]


def test_no_changes(own, fake):
    fake.outcome = PipelineStatus.NO_CHANGES
    run = queued_run(own)
    assert generate_and_plan(run) == S.NO_CHANGES


def test_transient_error_retries_from_a_clean_work_dir(own, fake, sent):
    fake.outcome, fake.error = PipelineStatus.FAILED, "ThrottlingException: Rate exceeded"
    run = queued_run(own)
    worker.run_generate(run.pk, tenant_id=own.tenant.pk)
    with pytest.raises(worker.TransientError):
        worker.run_plan(run.pk, tenant_id=own.tenant.pk, final_attempt=False)
    run.refresh_from_db()
    assert run.status == S.VALIDATING and run.worker_lease == ""
    assert not Path(fake.calls[0]).exists()  # the dead attempt's work dir is gone
    assert WorkspaceLock.objects.filter(run=run).exists()  # the run still owns the workspace
    fake.outcome, fake.error = PipelineStatus.PASSED, ""
    assert worker.run_plan(run.pk, tenant_id=own.tenant.pk) == S.AWAITING_APPROVAL
    fake.outcome, fake.error = PipelineStatus.FAILED, "ThrottlingException"


def test_transient_error_on_the_last_attempt_fails(own, fake):
    fake.outcome, fake.error = PipelineStatus.FAILED, "dial tcp: i/o timeout"
    run = queued_run(own)
    assert generate_and_plan(run) == S.FAILED


def test_plan_exception_is_a_failed_run(own, fake):
    fake.raises = RuntimeError("kaboom")
    run = queued_run(own)
    assert generate_and_plan(run) == S.FAILED
    run.refresh_from_db()
    assert "kaboom" in run.error and run.error_category == "internal"
    assert not WorkspaceLock.objects.exists()


def test_is_transient():
    from botocore.exceptions import ClientError, EndpointConnectionError

    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "DescribeVpcs")
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeVpcs")
    assert worker.is_transient(throttled) and not worker.is_transient(denied)
    assert worker.is_transient(EndpointConnectionError(endpoint_url="https://ec2"))
    assert not worker.is_transient("Unsupported argument")


def test_cancel_during_plan_stops_and_cleans_up(own, fake):
    run = queued_run(own)
    worker.run_generate(run.pk, tenant_id=own.tenant.pk)

    def cancel_midway(cancel_event):
        run_cancel(user=own.user("operator"), run_id=run.pk)
        assert WorkspaceLock.objects.filter(run=run).exists()  # kept while the worker still runs
        beat = worker.Heartbeat(run.pk, Run.objects.get(pk=run.pk).worker_lease, cancel_event=cancel_event)
        beat.beat()
        assert cancel_event.is_set()

    fake.on_run = cancel_midway
    fake.outcome = PipelineStatus.CANCELLED
    assert worker.run_plan(run.pk, tenant_id=own.tenant.pk) == "cancelled"
    run.refresh_from_db()
    assert run.status == S.CANCELLED and run.worker_lease == ""
    assert not WorkspaceLock.objects.exists()


# --- duplicates, tenants, locks ---------------------------------------------------------------------


def test_duplicate_deliveries_are_no_ops(own, fake):
    run = queued_run(own)
    worker.run_generate(run.pk, tenant_id=own.tenant.pk)
    assert worker.run_generate(run.pk, tenant_id=own.tenant.pk) == "noop"
    token = lease_acquire(run.pk, statuses=[S.VALIDATING])  # another worker holds the run
    assert token
    assert worker.run_plan(run.pk, tenant_id=own.tenant.pk) == "noop"
    assert fake.calls == []


@pytest.mark.parametrize("task", ["run_generate", "run_plan", "run_apply", "run_notify"])
def test_tasks_refuse_another_tenants_ids(own, other, fake, task):
    run = queued_run(own)
    before = list(Run.objects.values_list("status", "last_event_seq"))
    result = getattr(tasks, task).apply(kwargs={"run_id": run.pk, "tenant_id": other.tenant.pk}).get()
    assert result == "refused"
    assert list(Run.objects.values_list("status", "last_event_seq")) == before
    assert fake.calls == []


def test_second_run_on_the_workspace_waits(own, fake, sent):
    first, second = queued_run(own), queued_run(own)
    assert worker.run_generate(first.pk, tenant_id=own.tenant.pk) == S.VALIDATING
    sent.clear()
    assert worker.run_generate(second.pk, tenant_id=own.tenant.pk) == "busy"
    second.refresh_from_db()
    assert second.status == S.QUEUED
    assert sent == [("run_generate", {"run_id": second.pk, "tenant_id": own.tenant.pk, "countdown": 30})]
    assert "busy with run" in second.events.order_by("-seq").first().message
    worker.run_generate(second.pk, tenant_id=own.tenant.pk)  # still busy: not noted twice
    assert second.events.filter(message__startswith="Waiting").count() == 1
    worker.run_plan(first.pk, tenant_id=own.tenant.pk)  # first reaches awaiting_approval: lock released
    assert worker.run_generate(second.pk, tenant_id=own.tenant.pk) == S.VALIDATING


def test_run_on_other_workspace_does_not_wait(own, fake):
    first = queued_run(own)
    other_ws = run_create(user=own.user("operator"), config_id=own.prod.pk, request_text=REQUEST)
    worker.run_generate(first.pk, tenant_id=own.tenant.pk)
    assert worker.run_generate(other_ws.pk, tenant_id=own.tenant.pk) == S.VALIDATING


# --- the apply guard --------------------------------------------------------------------------------


def approved(world, fake):
    run = queued_run(world)
    generate_and_plan(run)
    run_approve(user=world.user("approver"), run_id=run.pk)
    return Run.objects.get(pk=run.pk)


def test_config_edited_after_approval_is_stale(own, fake):
    run = approved(own, fake)
    config_update(actor_membership=own.members["admin"], config_id=own.dev.pk, default_tags={"Team": "b"})
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.STALE
    run.refresh_from_db()
    assert run.status == S.STALE and "config dev changed since the plan" in run.error
    assert fake.applied == [] and not AppliedPlan.objects.exists()
    assert Approval.objects.get(run=run).voided_at is not None
    assert not WorkspaceLock.objects.exists()


def test_stored_plan_swapped_is_refused(own, fake):
    run = approved(own, fake)
    plan = artifacts.latest(run, "plan_file")
    from django.core.files.storage import default_storage

    with default_storage.open(plan.key, "wb") as handle:
        handle.write(b"a different plan")
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.STALE
    assert "stored plan file does not match" in Run.objects.get(pk=run.pk).events.last().message
    assert fake.applied == []


def test_approval_for_another_gate_digest_is_refused(own, fake):
    run = approved(own, fake)
    Approval.objects.filter(run=run).update(gate_digest="e" * 64)
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.STALE
    assert "other gate results" in Run.objects.get(pk=run.pk).events.last().message


def test_spec_tampered_is_refused(own, fake):
    run = approved(own, fake)
    spec = dict(run.spec, workspace="evil")
    Run.objects.filter(pk=run.pk).update(spec=spec)
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.STALE


def test_expired_window_is_expired(own, fake):
    run = approved(own, fake)
    Run.objects.filter(pk=run.pk).update(approval_deadline=timezone.now() - timezone.timedelta(minutes=1))
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.EXPIRED


def test_same_plan_is_applied_at_most_once(own, fake):
    run = approved(own, fake)
    AppliedPlan.objects.create(
        tenant=own.tenant,
        run=planned_run(own, status=S.APPLIED),
        workspace_key=run.workspace_key,
        plan_sha256=run.plan_sha256,
    )
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.STALE
    assert "already been applied" in Run.objects.get(pk=run.pk).events.last().message


def test_apply_makes_other_waiting_plans_of_the_workspace_stale(own, fake):
    waiting = planned_run(own)
    run = approved(own, fake)
    worker.run_apply(run.pk, tenant_id=own.tenant.pk)
    waiting.refresh_from_db()
    assert waiting.status == S.STALE


def test_apply_rebuilds_the_work_dir_from_artifacts(own, fake, monkeypatch, tmp_path):
    run = approved(own, fake)
    import shutil

    shutil.rmtree(worker.workdir_for(run))
    inits = []

    class Runner:
        def __init__(self, workdir, env):
            self.workdir = workdir

        def init(self):
            inits.append(self.workdir)
            return SimpleNamespace(ok=True, message="")

    import iac.terraform

    monkeypatch.setattr(iac.terraform, "TerraformRunner", Runner)
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.APPLIED
    assert inits and fake.applied == [run.plan_sha256]


# --- heartbeat --------------------------------------------------------------------------------------


def test_heartbeat_renews_lease_and_flushes_log(own):
    run = RunFactory(config=own.dev, status=S.VALIDATING)
    token = lease_acquire(run.pk, statuses=[S.VALIDATING], seconds=5)
    log = worker.LogTail()
    log("line one")
    cancel = threading.Event()
    beat = worker.Heartbeat(run.pk, token, cancel_event=cancel, log=log)
    assert beat.beat()
    run.refresh_from_db()
    assert run.log_tail == "line one" and run.lease_expires_at > timezone.now() + timezone.timedelta(
        seconds=60
    )
    assert not cancel.is_set()
    assert not worker.Heartbeat(run.pk, "stolen", cancel_event=cancel).beat()
    assert cancel.is_set()


def test_lease_is_exclusive_until_it_expires(own):
    run = RunFactory(config=own.dev, status=S.VALIDATING)
    assert lease_acquire(run.pk, statuses=[S.VALIDATING])
    assert lease_acquire(run.pk, statuses=[S.VALIDATING]) is None
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert lease_acquire(run.pk, statuses=[S.VALIDATING])
    assert lease_acquire(run.pk, statuses=[S.QUEUED]) is None
    transition(run.pk, S.PLANNING)


def test_a_consistently_rewritten_source_archive_is_refused(own, fake, tmp_path):
    """The archive's file and its artifact row both rewritten (so the row matches the file): the guard
    recomputes the source digest from the archive's content and compares it with what was approved."""
    import io
    import tarfile

    from django.core.files.storage import default_storage

    run = approved(own, fake)
    archive = artifacts.latest(run, "source_archive")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b'resource "aws_s3_bucket" "evil" { bucket = "someone-elses" }\n'
        info = tarfile.TarInfo("main.tf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    forged = buffer.getvalue()
    with default_storage.open(archive.key, "wb") as handle:
        handle.write(forged)
    Artifact.objects.filter(pk=archive.pk).update(sha256=hashlib.sha256(forged).hexdigest(), size=len(forged))

    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.STALE
    assert "not the planned source" in Run.objects.get(pk=run.pk).events.last().message
    assert fake.applied == []
