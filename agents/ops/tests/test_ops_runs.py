"""Operations end to end against the real sandbox: request → aws action plan → approval → apply → the
state in moto is what was approved, with the receipt in the run and the audit chain."""

from __future__ import annotations

import json
import random

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from agents.circuit_breaker import reset_aws_breaker
from runs import artifacts, worker
from runs.approvals import run_approve
from runs.models import Artifact, ArtifactKind, AuditEvent, GateResult
from runs.services import run_create, run_request_apply
from runs.states import RunStatus
from runs.tests.conftest import sent  # noqa: F401  (tasks recorded, heartbeat off)
from tenants.aws import session_for_account

S = RunStatus


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.GANTRY_AWS_WAIT_SECONDS = 5
    settings.GANTRY_AWS_POLL_SECONDS = 0.01
    reset_aws_breaker()


@pytest.fixture
def world(own, sandbox_settings):
    own.account.account_id = str(random.randint(10**11, 10**12 - 1))  # a moto account of its own
    own.account.save()
    return own


@pytest.fixture
def ec2(world):
    return session_for_account(world.account, region=world.dev.region).client("ec2")


def launch(ec2, count: int, tags: dict[str, str]) -> list[str]:
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    response = ec2.run_instances(
        ImageId=image, MinCount=count, MaxCount=count, InstanceType="t3.micro", TagSpecifications=spec
    )
    return sorted(i["InstanceId"] for i in response["Instances"])


def states(ec2, ids: list[str]) -> dict[str, str]:
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}


def planned(world, text: str, config=None):
    config = config or world.dev
    run = run_create(user=world.user("operator"), config_id=config.pk, request_text=text)
    assert worker.run_generate(run.pk, tenant_id=run.tenant_id) == S.VALIDATING
    worker.run_plan(run.pk, tenant_id=run.tenant_id)
    run.refresh_from_db()
    return run


def approve_and_apply(world, run, **approval) -> str:
    run_approve(user=world.user("approver"), run_id=run.pk, **approval)
    run_request_apply(user=world.user("operator"), run_id=run.pk)
    return worker.run_apply(run.pk, tenant_id=run.tenant_id)


def test_stop_tagged_instances_from_request_to_verified_receipt(world, ec2):
    staging = launch(ec2, 2, {"Env": "staging"})
    prod = launch(ec2, 1, {"Env": "prod"})
    run = planned(world, "Stop EC2 instances tagged Env=staging")
    assert (run.engine, run.agent, run.status) == ("aws", "ops", S.AWAITING_APPROVAL)

    plan = artifacts.latest(run, ArtifactKind.PLAN_FILE)
    assert artifacts.artifact_sha256(plan) == run.plan_sha256
    document = json.loads(artifacts.artifact_read(plan))
    targets = sorted(t["id"] for a in document["actions"] for t in a["targets"])
    assert targets == staging  # every target listed; prod untouched by the filter
    assert {g.name: g.status for g in GateResult.objects.filter(run=run)} == {
        "permissions": "pass",
        "policy": "pass",
    }
    assert run.cost_estimate["daily"].startswith("-")  # stopping saves

    assert approve_and_apply(world, run) == S.APPLIED
    run.refresh_from_db()
    assert states(ec2, staging) == dict.fromkeys(staging, "stopped")
    assert states(ec2, prod) == dict.fromkeys(prod, "running")
    receipt = run.outputs["receipt"]
    assert sorted(receipt["targets"]) == staging
    event = AuditEvent.objects.filter(tenant=world.tenant, action="run.applied", run=run).get()
    assert event.data["receipt"] == receipt  # the verified after-state is in the audit chain


def test_a_new_matching_instance_makes_the_approved_run_stale_and_nothing_runs(world, ec2):
    staging = launch(ec2, 1, {"Env": "staging"})
    run = planned(world, "Stop EC2 instances tagged Env=staging")
    assert run.status == S.AWAITING_APPROVAL
    newcomer = launch(ec2, 1, {"Env": "staging"})

    assert approve_and_apply(world, run) == S.STALE
    run.refresh_from_db()
    assert "changed since the plan" in run.error
    assert states(ec2, staging + newcomer) == dict.fromkeys(staging + newcomer, "running")


def test_a_rewritten_plan_document_is_refused(world, ec2):
    staging = launch(ec2, 1, {"Env": "staging"})
    run = planned(world, "Stop EC2 instances tagged Env=staging")
    plan = Artifact.objects.get(run=run, kind=ArtifactKind.PLAN_FILE)
    document = json.loads(artifacts.artifact_read(plan))
    document["actions"][0]["parameters"]["Force"] = True
    with default_storage.open(plan.key, "wb") as handle:
        handle.write(json.dumps(document).encode())

    approve_and_apply(world, run)
    run.refresh_from_db()
    assert run.status == S.STALE, run.events.order_by("-seq").first().message
    assert "stored plan file does not match" in run.events.order_by("-seq").first().message
    assert states(ec2, staging) == dict.fromkeys(staging, "running")


def test_no_matching_target_ends_nothing_to_do_naming_the_filter(world, ec2):
    launch(ec2, 1, {"Env": "staging"})
    run = planned(world, "Stop EC2 instances tagged Env=qa")
    assert run.status == S.NOTHING_TO_DO
    assert not run.plan_sha256 and not run.approvals.exists()
    message = run.events.order_by("-seq").first().message
    assert "none matched" in message and "qa" in message


def test_production_targets_need_two_approvals_and_a_ticket(world, ec2):
    launch(ec2, 1, {"Env": "prod"})
    run = planned(world, "Stop EC2 instances tagged Env=prod")
    assert run.status == S.AWAITING_APPROVAL
    assert (run.approvals_required, run.ticket_required) == (2, True)
    with pytest.raises(ValidationError):
        run_approve(user=world.user("approver"), run_id=run.pk)
    run_approve(user=world.user("approver"), run_id=run.pk, change_ticket="CHG-1")
    run.refresh_from_db()
    assert run.status == S.AWAITING_APPROVAL  # one of two


def test_an_unknown_instance_id_fails_the_run_with_its_name_and_touches_nothing(world, ec2):
    run = planned(world, "stop i-0123456789abcdef0")
    assert run.status == S.FAILED
    assert run.error_category == "invalid_request"
    assert "i-0123456789abcdef0" in run.error


def test_an_operation_without_any_target_asks_which(world):
    run = run_create(user=world.user("operator"), config_id=world.dev.pk, request_text="stop the instances")
    assert run.status == S.NEEDS_CLARIFICATION
    assert [q["field"] for q in run.clarification["questions"]] == ["targets"]


def test_the_agent_never_acts_on_every_resource_by_default(world):
    from agents.domains import AgentContext
    from agents.intent import Intent
    from agents.ops.agent import OpsAgent

    intent = Intent.model_validate(
        {"action": "operate", "domain": "ops", "operation": "stop", "confidence": 0.9,
         "resources": [{"type": "ec2_instance"}]}
    )  # fmt: skip
    answer = OpsAgent().handle(intent, AgentContext.for_config(world.dev))
    assert answer.status == "refused" and "never acts on every resource" in answer.message


def test_a_second_apply_delivery_does_nothing(world, ec2):
    staging = launch(ec2, 1, {"Env": "staging"})
    run = planned(world, "Stop EC2 instances tagged Env=staging")
    assert approve_and_apply(world, run) == S.APPLIED
    assert worker.run_apply(run.pk, tenant_id=run.tenant_id) == "noop"
    assert states(ec2, staging) == dict.fromkeys(staging, "stopped")


def test_a_failure_mid_apply_stops_and_offers_the_rollback_as_a_reviewed_run(
    world, ec2, settings, monkeypatch
):
    settings.GANTRY_OPS_MAX_TARGETS = 60
    ids = launch(ec2, 51, {"Env": "rb"})  # two batches of the EC2 stop action: 50 + 1
    run = planned(world, "Stop EC2 instances tagged Env=rb")
    plan = json.loads(artifacts.artifact_read(artifacts.latest(run, ArtifactKind.PLAN_FILE)))
    assert [len(a["targets"]) for a in plan["actions"]] == [50, 1]
    last = plan["actions"][1]["targets"][0]["id"]

    renew = worker.lease_renew

    def terminate_after_the_first_action(run_id, token, **fields):
        if "0" in (fields.get("outputs") or {}).get("actions", {}):
            ec2.terminate_instances(InstanceIds=[last])  # the world changes half-way through
        return renew(run_id, token, **fields)

    monkeypatch.setattr(worker, "lease_renew", terminate_after_the_first_action)
    assert approve_and_apply(world, run) == S.FAILED
    monkeypatch.setattr(worker, "lease_renew", renew)
    run.refresh_from_db()
    report = run.outputs["report"]
    assert (report["failed_index"], report["not_done"]) == (1, [])
    stopped = [i for i in ids if i != last]
    assert states(ec2, stopped) == dict.fromkeys(stopped, "stopped")

    from runs.services import run_follow_up_create

    rollback = run_follow_up_create(user=world.user("operator"), run_id=run.pk)
    assert rollback.engine == "aws" and rollback.replaces_id == run.pk
    worker.run_plan(rollback.pk, tenant_id=rollback.tenant_id)
    rollback.refresh_from_db()
    assert rollback.status == S.AWAITING_APPROVAL, rollback.error
    assert approve_and_apply(world, rollback) == S.APPLIED
    assert states(ec2, stopped) == dict.fromkeys(stopped, "running")
    with pytest.raises(ValidationError):
        run_follow_up_create(user=world.user("operator"), run_id=run.pk)  # planned once


def test_the_console_preview_shows_the_targets_before_submit(world, ec2, client_as):
    staging = launch(ec2, 2, {"Env": "staging"})
    launch(ec2, 1, {"Env": "prod"})
    from agents.preview import request_preview

    preview = request_preview(
        user=world.user("operator"), config=world.dev, text="stop EC2 instances tagged Env=staging"
    )
    assert sorted(t["id"] for t in preview.impact["targets"]) == staging
    assert preview.impact["summary"]["targets"] == 2 and preview.impact["cost"]["daily"].startswith("-")
    from runs.models import Run

    assert not Run.objects.exists()  # a look, nothing created
    nothing = request_preview(
        user=world.user("operator"), config=world.dev, text="stop EC2 instances tagged Env=qa"
    )
    assert "none matched" in nothing.impact["nothing"]
