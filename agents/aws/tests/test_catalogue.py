"""The catalogue's entries are consistent with each other (no sandbox needed)."""

from __future__ import annotations

import pytest

from agents.aws import actions
from agents.aws.actions.base import RISKS, ActionRequestInvalid
from agents.aws.plan import build_action_plan

EXPECTED = {
    "autoscaling.set_desired_capacity",
    "ec2.reboot_instances",
    "ec2.start_instances",
    "ec2.stop_instances",
    "ecs.update_service",
    "rds.create_db_snapshot",
    "rds.reboot_db_instance",
    "rds.start_db_instance",
    "rds.stop_db_instance",
    "secretsmanager.rotate_secret",
    "ssm.run_shell_command",
    "tagging.tag_resources",
    "tagging.untag_resources",
}


def test_every_operation_of_the_issue_is_catalogued():
    assert {spec.name for spec in actions.all_actions()} == EXPECTED


@pytest.mark.parametrize("spec", actions.all_actions(), ids=lambda s: s.name)
def test_entry_is_consistent(spec):
    assert spec.risk in RISKS and spec.permissions and spec.label
    assert spec.name.startswith(spec.name.split(".")[0] + ".")
    assert actions.find(spec.target_type, spec.verb) is spec
    if spec.rollback:
        undo = actions.get(spec.rollback)
        assert undo.target_type == spec.target_type
    if spec.count_field:
        assert spec.count_field in spec.args_model.model_fields


def test_lookup_by_verb():
    assert actions.find("ecs_service", "scale").name == "ecs.update_service"
    assert actions.find("rds_instance", "snapshot").name == "rds.create_db_snapshot"
    assert actions.find("secret", "rotate").name == "secretsmanager.rotate_secret"


def test_unknown_selector_keys_are_refused(db):
    with pytest.raises(ActionRequestInvalid, match="Unknown selector key"):
        build_action_plan(None, action="ec2.stop_instances", params={}, selector={"instance": "i-1"})
