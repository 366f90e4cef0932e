"""ECS service desired count and Auto Scaling desired capacity against the sandbox."""

from __future__ import annotations

import uuid

import pytest

from agents.aws.actions.base import ActionRequestInvalid, NothingToDo
from agents.aws.execute import execute, recheck, rollback_document
from agents.aws.plan import build_action_plan


@pytest.fixture
def cluster(aws):
    """A fresh cluster with services a, b, c at desired count 1."""
    ecs = aws("ecs")
    name = f"prod-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=name)
    ecs.register_task_definition(
        family=name, containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}]
    )
    for service in ("a", "b", "c"):
        ecs.create_service(cluster=name, serviceName=service, taskDefinition=name, desiredCount=1)
    return name


def desired(aws, cluster: str, service: str) -> int:
    return aws("ecs").describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"]


def test_scale_a_service_and_roll_it_back(config, aws, cluster):
    selector = {"cluster": cluster, "service": "a"}
    plan = build_action_plan(
        config, action="ecs.update_service", params={"desired_count": 4}, selector=selector
    )
    [action] = plan.document["actions"]
    assert action["parameters"] == {"cluster": cluster, "service": "a", "desiredCount": 4}
    assert action["targets"][0]["id"] == f"{cluster}/a"
    assert action["targets"][0]["state"]["desired_count"] == 1
    assert action["expected"] == {f"{cluster}/a": {"desired_count": 4}}
    assert action["rollback"]["parameters"] == {"cluster": cluster, "service": "a", "desiredCount": 1}
    assert action["permission_check"]["ok"] is None  # ECS has no DryRun

    report = execute(config, plan.document)
    assert report.ok and desired(aws, cluster, "a") == 4
    assert report.receipt["targets"][f"{cluster}/a"]["after"]["desired_count"] == 4

    undo = rollback_document(plan.document, report)
    assert undo["actions"][0]["parameters"]["desiredCount"] == 1
    assert execute(config, undo).ok and desired(aws, cluster, "a") == 1


def test_bad_counts_and_unknown_names(config, cluster):
    selector = {"cluster": cluster, "service": "a"}
    with pytest.raises(ActionRequestInvalid, match=r"desired_count must not be negative \(got -1\)"):
        build_action_plan(
            config, action="ecs.update_service", params={"desired_count": -1}, selector=selector
        )
    with pytest.raises(ActionRequestInvalid, match="desired_count 60 is above this config's cap of 50"):
        build_action_plan(
            config,
            action="ecs.update_service",
            params={"desired_count": 60},
            selector=selector,
            limits={"max_count": 50},
        )
    with pytest.raises(ActionRequestInvalid, match="desired_count"):
        build_action_plan(
            config, action="ecs.update_service", params={"desired_count": "4"}, selector=selector
        )
    with pytest.raises(ActionRequestInvalid, match="No ECS cluster nowhere-"):
        build_action_plan(
            config,
            action="ecs.update_service",
            params={"desired_count": 2},
            selector={"cluster": f"nowhere-{cluster}", "service": "a"},
        )
    with pytest.raises(ActionRequestInvalid, match=f"No service in cluster {cluster} named nope"):
        build_action_plan(
            config,
            action="ecs.update_service",
            params={"desired_count": 2},
            selector={"cluster": cluster, "service": "nope"},
        )


def test_a_service_already_at_the_count_is_nothing_to_do(config, cluster):
    with pytest.raises(NothingToDo, match=f"already in the expected state.*cluster {cluster}"):
        build_action_plan(
            config,
            action="ecs.update_service",
            params={"desired_count": 1},
            selector={"cluster": cluster, "service": "a"},
        )


def test_recheck_sees_a_changed_desired_count(config, aws, cluster):
    doc = build_action_plan(
        config,
        action="ecs.update_service",
        params={"desired_count": 3},
        selector={"cluster": cluster, "service": "b"},
    ).document
    aws("ecs").update_service(cluster=cluster, service="b", desiredCount=2)
    assert recheck(config, doc) == [f"{cluster}/b: desired_count was 1, now 2"]


def test_a_service_deleted_mid_plan_stops_the_apply(config, aws, cluster):
    doc = build_action_plan(
        config,
        action="ecs.update_service",
        params={"desired_count": 2},
        selector={"cluster": cluster, "names": ["a", "b", "c"]},
    ).document
    assert [a["targets"][0]["name"] for a in doc["actions"]] == ["a", "b", "c"]
    aws("ecs").delete_service(cluster=cluster, service="b", force=True)
    assert recheck(config, doc) == [f"{cluster}/b is gone"]

    report = execute(config, doc)
    assert not report.ok and report.failed_index == 1 and report.not_done == [2]
    assert f"{cluster}/b is gone" in report.error
    assert desired(aws, cluster, "a") == 2 and desired(aws, cluster, "c") == 1

    undo = rollback_document(doc, report)
    assert [a["targets"][0]["id"] for a in undo["actions"]] == [f"{cluster}/a"]
    assert undo["actions"][0]["parameters"]["desiredCount"] == 1
    assert undo["selector"] == {"ids": [f"{cluster}/a"]}


@pytest.fixture
def group(aws):
    ec2, autoscaling = aws("ec2"), aws("autoscaling")
    name = f"web-{uuid.uuid4().hex[:8]}"
    image = ec2.describe_images(Owners=["amazon"], MaxResults=1)["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateName": name},
        AvailabilityZones=[zone],
    )
    return name


def capacity(aws, name: str) -> int:
    return aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][
        0
    ]["DesiredCapacity"]


def test_set_desired_capacity_within_bounds(config, aws, group):
    plan = build_action_plan(
        config,
        action="autoscaling.set_desired_capacity",
        params={"desired_capacity": 2},
        selector={"names": [group]},
    )
    [action] = plan.document["actions"]
    assert action["parameters"] == {
        "AutoScalingGroupName": group,
        "DesiredCapacity": 2,
        "HonorCooldown": False,
    }
    assert action["rollback"]["args"] == {"desired_capacity": 1}
    report = execute(config, plan.document)
    assert report.ok and capacity(aws, group) == 2
    assert report.receipt["targets"][group]["after"]["desired_capacity"] == 2

    with pytest.raises(
        ActionRequestInvalid, match=r"desired capacity 5 is outside the group's min..max \(1..3\)"
    ):
        build_action_plan(
            config,
            action="autoscaling.set_desired_capacity",
            params={"desired_capacity": 5},
            selector={"names": [group]},
        )
    with pytest.raises(ActionRequestInvalid, match="No Auto Scaling group nope-"):
        build_action_plan(
            config,
            action="autoscaling.set_desired_capacity",
            params={"desired_capacity": 2},
            selector={"names": [f"nope-{group}"]},
        )
    assert capacity(aws, group) == 2


def test_bounds_are_checked_again_at_apply(config, aws, group):
    doc = build_action_plan(
        config,
        action="autoscaling.set_desired_capacity",
        params={"desired_capacity": 3},
        selector={"names": [group]},
    ).document
    aws("autoscaling").update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=2)
    assert recheck(config, doc) == [f"{group}: max_size was 3, now 2"]
    report = execute(config, doc)  # the sandbox would accept 3 above the max; Gantry does not call
    assert not report.ok and "outside the group's min..max (1..2)" in report.error
    assert report.results[0]["called"] is False and capacity(aws, group) == 1


def test_the_accounts_allowed_services_are_noted_for_the_gate(config, cluster):
    config.account.allowed_services = ["ec2", "rds"]
    config.account.save()
    doc = build_action_plan(
        config,
        action="ecs.update_service",
        params={"desired_count": 2},
        selector={"cluster": cluster, "service": "c"},
    ).document
    assert doc["allowed_services"] == ["ec2", "rds"] and doc["service_allowed"] is False
