"""Tagging and untagging resources by ARN against the sandbox."""

from __future__ import annotations

import uuid

import pytest

from agents.aws.actions.base import ActionRequestInvalid, NothingToDo
from agents.aws.execute import execute, recheck, rollback_document
from agents.aws.plan import build_action_plan


def tags_of(aws, instance_id: str) -> dict[str, str]:
    reservations = aws("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return {t["Key"]: t["Value"] for t in reservations[0]["Instances"][0].get("Tags", [])}


@pytest.fixture
def arns(config, launch):
    ids = launch(2, {"Team": f"t-{uuid.uuid4().hex[:8]}"})
    prefix = f"arn:aws:ec2:{config.region}:{config.account.account_id}:instance"
    return ids, [f"{prefix}/{i}" for i in ids]


def test_tag_then_roll_back(config, aws, arns):
    ids, targets = arns
    plan = build_action_plan(
        config,
        action="tagging.tag_resources",
        params={"tags": {"CostCenter": "42"}},
        selector={"ids": targets},
    )
    [action] = plan.document["actions"]
    assert action["parameters"] == {"ResourceARNList": targets, "Tags": {"CostCenter": "42"}}
    assert action["rollback"]["parameters"] == {"ResourceARNList": targets, "TagKeys": ["CostCenter"]}
    report = execute(config, plan.document)
    assert report.ok and all(tags_of(aws, i)["CostCenter"] == "42" for i in ids)
    assert report.receipt["targets"][targets[0]]["after"]["tags"]["CostCenter"] == "42"

    with pytest.raises(NothingToDo, match="already in the expected state"):
        build_action_plan(
            config,
            action="tagging.tag_resources",
            params={"tags": {"CostCenter": "42"}},
            selector={"ids": targets},
        )

    undo = rollback_document(plan.document, report)
    assert undo["actions"][0]["name"] == "tagging.untag_resources"
    assert recheck(config, undo) == []
    assert execute(config, undo).ok
    assert all("CostCenter" not in tags_of(aws, i) for i in ids)


def test_untag_offers_the_old_values_back(config, aws, arns):
    ids, targets = arns
    team = tags_of(aws, ids[0])["Team"]
    plan = build_action_plan(
        config, action="tagging.untag_resources", params={"keys": ["Team"]}, selector={"ids": targets}
    )
    [action] = plan.document["actions"]
    assert action["rollback"]["args"] == {"tags": {"Team": team}}
    assert execute(config, plan.document).ok
    assert all("Team" not in tags_of(aws, i) for i in ids)


def test_a_missing_arn_fails_at_apply(config, arns):
    _, targets = arns
    gone = targets[0].rsplit("/", 1)[0] + "/i-0123456789abcdef0"
    plan = build_action_plan(
        config, action="tagging.tag_resources", params={"tags": {"A": "b"}}, selector={"ids": [gone]}
    )
    report = execute(config, plan.document)
    assert not report.ok and report.failed_index == 0
    # AWS answers with FailedResourcesMap; the sandbox accepts the call and the tags never appear.
    assert gone in report.error
    assert "AWS reported failures" in report.error or "expected outcome was not reached" in report.error


def test_overwriting_a_value_has_no_automatic_rollback(config, arns):
    _, targets = arns
    plan = build_action_plan(
        config, action="tagging.tag_resources", params={"tags": {"Team": "other"}}, selector={"ids": targets}
    )
    assert plan.document["actions"][0]["rollback"] is None


def test_bad_tagging_requests(config, arns):
    _, targets = arns
    other_account = targets[0].replace(config.account.account_id, "999999999999")
    with pytest.raises(ActionRequestInvalid, match="belongs to account 999999999999"):
        build_action_plan(
            config,
            action="tagging.tag_resources",
            params={"tags": {"A": "b"}},
            selector={"ids": [other_account]},
        )
    other_region = targets[0].replace(config.region, "eu-west-1")
    with pytest.raises(ActionRequestInvalid, match="is in eu-west-1"):
        build_action_plan(
            config,
            action="tagging.tag_resources",
            params={"tags": {"A": "b"}},
            selector={"ids": [other_region]},
        )
    with pytest.raises(ActionRequestInvalid, match="aws:"):
        build_action_plan(
            config, action="tagging.tag_resources", params={"tags": {"aws:x": "b"}}, selector={"ids": targets}
        )
