"""EC2 start / stop / reboot end to end against the sandbox, and the engine's plan/execute rules."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from agents.aws import actions
from agents.aws.actions.base import ActionRequestInvalid, NothingToDo
from agents.aws.execute import execute, recheck, rollback_document
from agents.aws.plan import build_action_plan, document_sha256

from .conftest import instance_state


def _env() -> dict[str, str]:
    return {"Env": f"staging-{uuid.uuid4().hex[:8]}"}


def test_stop_by_tag_plans_executes_and_verifies(config, launch, aws):
    tags = _env()
    ids = launch(2, tags)
    plan = build_action_plan(config, action="ec2.stop_instances", params={}, selector={"tags": tags})

    assert plan.sha256 == hashlib.sha256(plan.bytes).hexdigest() == document_sha256(plan.document)
    again = build_action_plan(config, action="ec2.stop_instances", params={}, selector={"tags": tags})
    assert again.sha256 == plan.sha256
    doc = plan.document
    assert (doc["engine"], doc["account_id"], doc["region"]) == (
        "aws",
        config.account.account_id,
        config.region,
    )
    [action] = doc["actions"]
    assert action["operation"] == "StopInstances"
    assert action["parameters"] == {"InstanceIds": ids}
    assert [t["id"] for t in action["targets"]] == ids
    assert (
        action["targets"][0]["arn"]
        == f"arn:aws:ec2:{config.region}:{config.account.account_id}:instance/{ids[0]}"
    )
    assert action["targets"][0]["state"] == {"state": "running", "instance_type": "t3.micro"}
    assert action["precondition"] == {"state": ["running"]}
    assert action["expected"] == {i: {"state": "stopped"} for i in ids}
    assert action["rollback"] == {
        "action": "ec2.start_instances",
        "args": {},
        "parameters": {"InstanceIds": ids},
    }
    assert action["permission_check"]["ok"] is True
    assert plan.summary["targets"] == 2 and plan.summary["highest_risk"] == "medium"
    assert plan.cost_delta["currency"] == "USD" and plan.cost_delta["daily"].startswith("-")
    assert "t3.micro" in plan.cost_delta["basis"]
    assert recheck(config, doc) == []

    seen = []
    report = execute(config, doc, on_action=lambda index, result: seen.append(index))
    assert report.ok and report.failed_index is None and report.not_done == []
    assert seen == [0]
    assert [instance_state(aws, i) for i in ids] == ["stopped", "stopped"]
    [result] = report.results
    assert result["verified"] and result["request_id"] and result["duration_seconds"] >= 0
    assert {i: report.receipt["targets"][i]["after"]["state"] for i in ids} == dict.fromkeys(ids, "stopped")


def test_start_and_reboot_by_id(config, launch, aws):
    [iid] = launch(1)
    aws("ec2").stop_instances(InstanceIds=[iid])
    plan = build_action_plan(config, action="ec2.start_instances", params={}, selector={"ids": [iid]})
    assert plan.cost_delta["daily"] != "0.00" and not plan.cost_delta["daily"].startswith("-")
    assert execute(config, plan.document).ok
    assert instance_state(aws, iid) == "running"

    plan = build_action_plan(config, action="ec2.reboot_instances", params={}, selector={"ids": [iid]})
    assert plan.document["actions"][0]["rollback"] is None
    report = execute(config, plan.document)
    assert report.ok and report.receipt["targets"][iid]["after"]["state"] == "running"


def test_named_instance_in_the_wrong_state_is_refused(config, launch, aws):
    [iid] = launch(1)
    aws("ec2").stop_instances(InstanceIds=[iid])
    with pytest.raises(ActionRequestInvalid, match=f"{iid}.*state is stopped, needs running"):
        build_action_plan(config, action="ec2.reboot_instances", params={}, selector={"ids": [iid]})


def test_unknown_id_and_name_are_named(config, launch):
    launch(1)
    with pytest.raises(ActionRequestInvalid, match="No instance i-0123456789abcdef0 in"):
        build_action_plan(
            config, action="ec2.stop_instances", params={}, selector={"ids": ["i-0123456789abcdef0"]}
        )
    with pytest.raises(ActionRequestInvalid, match="No instance named nobody-here"):
        build_action_plan(config, action="ec2.stop_instances", params={}, selector={"names": ["nobody-here"]})


def test_filter_matched_wrong_state_is_skipped_and_listed(config, launch, aws):
    tags = _env()
    running, stopped = launch(2, tags)
    aws("ec2").stop_instances(InstanceIds=[stopped])
    plan = build_action_plan(config, action="ec2.stop_instances", params={}, selector={"tags": tags})
    assert [t["id"] for t in plan.document["actions"][0]["targets"]] == [running]
    [skipped] = plan.document["skipped"]
    assert skipped["id"] == stopped and skipped["state"]["state"] == "stopped"
    assert skipped["reason"] == "state is stopped, needs running"
    assert plan.summary["skipped"] == 1


def test_zero_targets_is_nothing_to_do_naming_the_filter(config, launch, aws):
    tags = _env()
    [iid] = launch(1, tags)
    aws("ec2").stop_instances(InstanceIds=[iid])
    with pytest.raises(NothingToDo, match=f"Env={tags['Env']}") as info:
        build_action_plan(config, action="ec2.stop_instances", params={}, selector={"tags": tags})
    assert info.value.filters == {"tags": tags}
    with pytest.raises(NothingToDo, match="none matched"):
        build_action_plan(config, action="ec2.stop_instances", params={}, selector={"tags": _env()})


def test_bad_requests_are_refused(config, launch):
    tags = _env()
    launch(1, tags)
    with pytest.raises(ActionRequestInvalid, match="eu-north-1 is not allowed"):
        build_action_plan(
            config, action="ec2.stop_instances", params={}, selector={"tags": tags, "region": "eu-north-1"}
        )
    with pytest.raises(ActionRequestInvalid, match=r"Unknown action 'ec2\.terminate_instances'"):
        build_action_plan(config, action="ec2.terminate_instances", params={}, selector={"tags": tags})
    with pytest.raises(ActionRequestInvalid, match="Bad parameters"):
        build_action_plan(
            config, action="ec2.stop_instances", params={"force": True}, selector={"tags": tags}
        )
    with pytest.raises(ActionRequestInvalid, match="Name the instances"):
        build_action_plan(config, action="ec2.stop_instances", params={}, selector={})


def test_recheck_sees_a_new_match_and_a_state_change(config, launch, aws):
    tags = _env()
    [first] = launch(1, tags)
    doc = build_action_plan(config, action="ec2.stop_instances", params={}, selector={"tags": tags}).document
    [newcomer] = launch(1, tags)
    aws("ec2").stop_instances(InstanceIds=[first])
    reasons = recheck(config, doc)
    assert f"{newcomer} now matches the selector (new since the plan)" in reasons
    assert f"{first}: state was running, now stopped" in reasons
    report_before = instance_state(aws, newcomer)
    assert report_before == "running"  # recheck touched nothing


def test_resume_skips_the_done_action(config, launch, aws):
    tags = _env()
    ids = launch(51, tags)
    doc = build_action_plan(config, action="ec2.stop_instances", params={}, selector={"tags": tags}).document
    assert [len(a["targets"]) for a in doc["actions"]] == [50, 1]

    persisted: dict[int, dict] = {}

    class WorkerLost(Exception):
        pass

    def crash_after_first(index, result):
        persisted[index] = result
        raise WorkerLost

    with pytest.raises(WorkerLost):
        execute(config, doc, on_action=crash_after_first)
    assert instance_state(aws, ids[-1]) == "running"

    aws("ec2").start_instances(InstanceIds=ids[:50])  # a repeat of action 0 would stop these again
    report = execute(config, doc, done=persisted)
    assert report.ok
    assert [r.get("resumed", False) for r in report.results] == [True, False]
    assert instance_state(aws, ids[0]) == "running" and instance_state(aws, ids[-1]) == "stopped"


def test_failure_mid_plan_reports_and_offers_the_rollback(config, launch, aws):
    tags = _env()
    ids = launch(51, tags)
    doc = build_action_plan(config, action="ec2.stop_instances", params={}, selector={"tags": tags}).document
    victim = doc["actions"][1]["targets"][0]["id"]
    aws("ec2").terminate_instances(InstanceIds=[victim])

    report = execute(config, doc)
    assert not report.ok and report.failed_index == 1 and report.not_done == []
    assert f"{victim}: state is" in report.error and "nothing called" in report.error
    assert [r["called"] for r in report.results] == [True, False]

    undo = rollback_document(doc, report)
    [action] = undo["actions"]
    assert action["name"] == "ec2.start_instances"
    assert action["parameters"] == {"InstanceIds": ids[:50]}
    assert all(t["state"]["state"] == "stopped" for t in action["targets"])
    assert action["rollback"]["action"] == "ec2.stop_instances"
    assert undo["rollback_of"]["action"] == "ec2.stop_instances"
    assert execute(config, undo).ok
    assert instance_state(aws, ids[0]) == "running"


def test_catalogue_lookup():
    assert actions.find("ec2_instance", "stop").name == "ec2.stop_instances"
    assert actions.find("ec2_instance", "terminate") is None
    assert actions.get("ec2.start_instances").rollback == "ec2.stop_instances"


def test_a_called_but_unverified_action_is_never_repeated(config, launch, aws):
    [iid] = launch(1, _env())
    doc = build_action_plan(config, action="ec2.stop_instances", params={}, selector={"ids": [iid]}).document
    earlier = {0: {"index": 0, "name": "ec2.stop_instances", "targets": [iid], "called": True, "ok": False}}
    report = execute(config, doc, done=earlier)
    assert not report.ok and report.failed_index == 0 and "not repeated" in report.error
    assert instance_state(aws, iid) == "running"


def test_a_named_instance_must_also_carry_the_named_tags(config, launch):
    [iid] = launch(1, {"Env": "dev"})
    with pytest.raises(ActionRequestInvalid, match=f"No instance {iid} carrying Env=prod"):
        build_action_plan(
            config, action="ec2.stop_instances", params={}, selector={"ids": [iid], "tags": {"Env": "prod"}}
        )
