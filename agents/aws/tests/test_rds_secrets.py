"""RDS snapshot / reboot / stop / start and Secrets Manager rotation against the sandbox."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from agents.aws.actions import get
from agents.aws.actions.base import ActionContext, ActionRequestInvalid, Target
from agents.aws.actions.secretsmanager import RotateArgs
from agents.aws.execute import execute, recheck
from agents.aws.plan import build_action_plan
from iac.pricing import PriceKey, default_price_source


@pytest.fixture
def database(aws):
    name = f"orders-{uuid.uuid4().hex[:8]}"
    aws("rds").create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="gantry",
        MasterUserPassword="not-a-real-password",
        AllocatedStorage=20,
        Tags=[{"Key": "App", "Value": name}],
    )
    return name


def db_status(aws, name: str) -> str:
    return aws("rds").describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["DBInstanceStatus"]


def test_snapshot_a_database(config, aws, database):
    plan = build_action_plan(
        config,
        action="rds.create_db_snapshot",
        params={"snapshot_suffix": "before-upgrade"},
        selector={"ids": [database]},
    )
    [action] = plan.document["actions"]
    snapshot = f"{database}-before-upgrade"
    assert action["parameters"]["DBSnapshotIdentifier"] == snapshot
    assert action["targets"][0]["state"]["snapshot"] is None
    report = execute(config, plan.document)
    assert report.ok
    assert (
        aws("rds").describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"][0]["Status"]
        == "available"
    )
    assert report.receipt["targets"][database]["after"]["snapshot"] == "available"

    with pytest.raises(ActionRequestInvalid, match=f"snapshot {snapshot} already exists"):
        build_action_plan(
            config,
            action="rds.create_db_snapshot",
            params={"snapshot_suffix": "before-upgrade"},
            selector={"ids": [database]},
        )
    with pytest.raises(ActionRequestInvalid, match="snapshot_suffix"):
        build_action_plan(
            config,
            action="rds.create_db_snapshot",
            params={"snapshot_suffix": "a;b"},
            selector={"ids": [database]},
        )


def test_stop_start_and_reboot_a_database(config, aws, database):
    plan = build_action_plan(
        config, action="rds.stop_db_instance", params={}, selector={"tags": {"App": database}}
    )
    assert plan.document["actions"][0]["rollback"]["action"] == "rds.start_db_instance"
    hourly = default_price_source().price(PriceKey("rds", config.region, "postgres/db.t3.micro")).usd
    assert plan.cost_delta["daily"] == str(-(hourly * 24).quantize(Decimal("0.01")))
    assert execute(config, plan.document).ok and db_status(aws, database) == "stopped"

    # The sandbox would happily reboot a stopped database; Gantry refuses it.
    with pytest.raises(ActionRequestInvalid, match="status is stopped, needs available"):
        build_action_plan(config, action="rds.reboot_db_instance", params={}, selector={"ids": [database]})

    plan = build_action_plan(config, action="rds.start_db_instance", params={}, selector={"ids": [database]})
    assert execute(config, plan.document).ok and db_status(aws, database) == "available"

    plan = build_action_plan(config, action="rds.reboot_db_instance", params={}, selector={"ids": [database]})
    report = execute(config, plan.document)
    assert report.ok and report.receipt["targets"][database]["after"]["status"] == "available"


def test_unknown_database_is_named(config, database):
    with pytest.raises(ActionRequestInvalid, match="No DB instance nope-db in"):
        build_action_plan(config, action="rds.reboot_db_instance", params={}, selector={"ids": ["nope-db"]})


def test_rotate_a_secret(config, aws):
    name = f"db/password-{uuid.uuid4().hex[:8]}"
    aws("secretsmanager").create_secret(Name=name, SecretString="initial")
    plan = build_action_plan(
        config, action="secretsmanager.rotate_secret", params={}, selector={"names": [name]}, run_id=7
    )
    [action] = plan.document["actions"]
    token = action["parameters"]["ClientRequestToken"]
    assert len(token) == 36
    again = build_action_plan(
        config, action="secretsmanager.rotate_secret", params={}, selector={"names": [name]}, run_id=7
    )
    other_run = build_action_plan(
        config, action="secretsmanager.rotate_secret", params={}, selector={"names": [name]}, run_id=8
    )
    assert (
        again.sha256 == plan.sha256
        and other_run.document["actions"][0]["parameters"]["ClientRequestToken"] != token
    )
    assert any("sandbox rotates" in note for note in plan.document["notes"])
    assert recheck(config, plan.document) == []

    report = execute(config, plan.document)
    assert report.ok
    stages = aws("secretsmanager").describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages[token] == ["AWSCURRENT"]
    [result] = report.results
    assert result["after"][action["targets"][0]["id"]]["rotated"] is True
    assert "sandbox_note" in result

    with pytest.raises(ActionRequestInvalid, match="No secret db/nothing-here"):
        build_action_plan(
            config, action="secretsmanager.rotate_secret", params={}, selector={"names": ["db/nothing-here"]}
        )
    with pytest.raises(ActionRequestInvalid, match="rotation_lambda_arn"):
        build_action_plan(
            config,
            action="secretsmanager.rotate_secret",
            params={"rotation_lambda_arn": "not-an-arn"},
            selector={"names": [name]},
        )


def test_a_real_account_needs_rotation_configured():
    """Real AWS refuses to rotate without a function; only the sandbox's bookkeeping goes without."""
    spec = get("secretsmanager.rotate_secret")
    target = Target("arn", "arn", "s", {}, "ap-south-1", {"rotation_lambda": None})

    class RealAccount:
        sandbox = False

    ctx = ActionContext(clients=RealAccount(), args=RotateArgs())
    assert "rotation is not configured" in spec.check_target(ctx, target)
