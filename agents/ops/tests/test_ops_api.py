"""The REST ops family over the real sandbox: role × own/other tenant, and bad input."""

from __future__ import annotations

import random

import pytest

from agents.circuit_breaker import reset_aws_breaker
from runs.models import Run
from runs.states import RunStatus
from runs.tests.conftest import sent  # noqa: F401  (tasks recorded, heartbeat off)
from tenants.aws import session_for_account
from tenants.tokens import token_create

S = RunStatus


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.GANTRY_AWS_WAIT_SECONDS = 5
    settings.GANTRY_AWS_POLL_SECONDS = 0.01
    settings.GANTRY_TOOL_WAIT_SECONDS = 0
    reset_aws_breaker()


@pytest.fixture
def world(own, sandbox_settings):
    own.account.account_id = str(random.randint(10**11, 10**12 - 1))
    own.account.save()
    return own


def api(client, world, role):
    _, raw = token_create(user=world.user(role), tenant=world.tenant, name=f"{role}-token", role=role)
    return lambda method, path, **kw: getattr(client, method)(
        f"/api/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {raw}", content_type="application/json", **kw
    )


def instance(world) -> str:
    ec2 = session_for_account(world.account, region=world.dev.region).client("ec2")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0][
        "InstanceId"
    ]


@pytest.mark.parametrize(
    "role, allowed", [("viewer", False), ("operator", True), ("approver", True), ("admin", True)]
)
def test_ops_run_by_role(client, world, role, allowed):
    call = api(client, world, role)
    before = Run.objects.count()
    body = {
        "action": "ec2.stop_instances",
        "targets": {"ids": [instance(world)]},
        "config": str(world.dev.pk),
    }
    response = call("post", "ops/run", data=body)
    if not allowed:
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "forbidden"
        assert Run.objects.count() == before
        return
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["run"]["id"])
    assert (run.engine, run.spec["action"], run.status) == ("aws", "ec2.stop_instances", S.VALIDATING)


def test_ops_run_in_plain_words(client, world):
    response = api(client, world, "operator")(
        "post",
        "ops/run",
        data={"command": "stop EC2 instances tagged Env=staging", "config": str(world.dev.pk)},
    )
    assert response.status_code == 201, response.content
    assert (
        Run.objects.get(pk=response.json()["run"]["id"]).request_text
        == "stop EC2 instances tagged Env=staging"
    )


def test_unknown_action_is_a_clear_400_and_creates_nothing(client, world):
    before = Run.objects.count()
    response = api(client, world, "operator")(
        "post",
        "ops/run",
        data={"action": "ec2.terminate_everything", "targets": {"ids": ["i-0123456789abcdef0"]}},
    )
    assert response.status_code == 400, response.content
    assert "ec2.terminate_everything" in response.json()["error"]["message"]
    assert Run.objects.count() == before


def test_status_and_cancel_answer_404_for_another_tenant(client, world, other):
    theirs = api(client, other, "operator")(
        "post",
        "ops/run",
        data={"command": "stop EC2 instances tagged Env=staging", "config": str(other.dev.pk)},
    ).json()["run"]["id"]
    mine = api(client, world, "admin")
    assert mine("get", f"ops/status?run_id={theirs}").status_code == 404
    assert mine("post", "ops/cancel", data={"run_id": theirs}).status_code == 404
    assert Run.objects.get(pk=theirs).status != S.CANCELLED


def test_status_then_cancel_own_run(client, world):
    call = api(client, world, "operator")
    run_id = call(
        "post",
        "ops/run",
        data={"command": "stop EC2 instances tagged Env=staging", "config": str(world.dev.pk)},
    ).json()["run"]["id"]
    status = call("get", f"ops/status?run_id={run_id}")
    assert status.status_code == 200 and status.json()["run"]["id"] == run_id
    assert api(client, world, "viewer")("post", "ops/cancel", data={"run_id": run_id}).status_code == 403
    cancelled = call("post", "ops/cancel", data={"run_id": run_id, "reason": "not today"})
    assert cancelled.status_code == 200 and Run.objects.get(pk=run_id).status == S.CANCELLED
    assert call("get", "ops/status?run_id=abc").status_code == 400
