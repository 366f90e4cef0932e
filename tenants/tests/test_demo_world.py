"""seed_demo --world builds the demo's running AWS world through the sandbox's real APIs, once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agents.aws_readonly import ReadOnlyAws
from portal.testing.services import free_port
from tenants.demo_world import demo_account, world_counts

pytestmark = pytest.mark.django_db

EXPECTED = {
    "instances Env=staging": 3,
    "instances Env=prod": 2,
    "ECS services in prod": 1,
    "Auto Scaling groups": 1,
    "Auto Scaling instances": 2,
    "RDS instances": 1,
    "secrets": 1,
}


def test_seeding_twice_builds_the_world_once_in_the_demo_account_only(sandbox_settings, own):
    call_command("seed_demo", "--world", stdout=StringIO())
    account = demo_account()
    assert world_counts(account) == EXPECTED

    call_command("seed_demo", "--world", stdout=StringIO())
    assert demo_account() == account
    assert world_counts(account) == EXPECTED
    # Another tenant's sandbox account is another moto account: none of the world shows there.
    assert (
        ReadOnlyAws(account.configs.get(name="prod")).ec2_list_instances()["count"] == 7
    )  # 5 + 2 in the group
    assert ReadOnlyAws(own.dev).ec2_list_instances()["count"] == 0


def test_world_without_a_sandbox_says_how_to_start_it(settings):
    settings.GANTRY_SANDBOX_ENDPOINT = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match=r"does not answer .*manage\.py sandbox"):
        call_command("seed_demo", "--world", stdout=StringIO())
