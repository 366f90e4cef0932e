"""`manage.py tool`: every registered tool over the role × own/other-tenant matrix, the command's own
input errors, and the config it defaults to. The command calls `registry.invoke` as the named member."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agents.circuit_breaker import reset_aws_breaker
from agents.mcp import registry
from agents.mcp.registry import all_tools
from conftest import ROLES
from runs.models import AuditEvent, Notification, Run, RunEvent
from runs.tests.factories import planned_run
from tenants.models import Membership
from tenants.roles import role_allows
from tenants.services import config_update

from .tool_samples import NO_TARGET, sample_arguments, with_plan_json


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch, settings, tmp_path):
    """Tasks are recorded instead of sent; no language model."""
    from runs import tasks

    monkeypatch.setattr(tasks, "dispatch", lambda name, **kw: None)
    monkeypatch.setattr(tasks, "dispatch_webhook", lambda **kw: None)
    settings.GANTRY_HEARTBEAT_SECONDS = 0
    settings.GANTRY_WORK_ROOT = tmp_path / "work"
    settings.GANTRY_LLM_MODEL = ""
    reset_aws_breaker()
    yield
    reset_aws_breaker()


def tool(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `manage.py tool ...`; a CommandError is exit 1 with its message."""
    out, err = StringIO(), StringIO()
    try:
        call_command("tool", *argv, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


def as_member(world, role: str, name: str, arguments: dict, *extra: str) -> tuple[int, str, str]:
    return tool(
        name,
        "--tenant",
        world.tenant.slug,
        "--user",
        world.user(role).email,
        "--args",
        json.dumps(arguments),
        *extra,
    )


def _snapshot():
    return (
        sorted(Run.objects.values_list("pk", "status")),
        RunEvent.objects.count(),
        Notification.objects.count(),
    )


def _cli_calls(tenant) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            tenant=tenant, action=registry.AUDIT_ACTION, data__transport="cli"
        ).order_by("seq")
    )


# --- the matrix: every registered tool -----------------------------------------------------------------


@pytest.mark.parametrize("target", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("tool_name", list(all_tools()))
def test_every_tool_over_roles_and_tenants(tool_name, role, target, own, other, sandbox_settings):
    world = own if target == "own" else other
    run = with_plan_json(planned_run(world, requester=world.user("operator")))
    arguments = sample_arguments(tool_name, world, run)  # fails for a tool without sample arguments
    spec = all_tools()[tool_name]
    before, calls = _snapshot(), len(_cli_calls(own.tenant))

    code, stdout, stderr = as_member(own, role, tool_name, arguments, "--json")

    allowed = role_allows(role, spec.action)
    reaches_other = target == "other" and tool_name not in NO_TARGET
    expected = ("not_found" if reaches_other else "ok") if allowed else "forbidden"
    if expected == "ok":
        assert code == 0, stdout + stderr
        assert isinstance(json.loads(stdout), dict)
    else:
        assert code == 1
        error = json.loads(stdout)["error"]
        assert error["code"] == expected, error
        assert expected in stderr
        if expected == "forbidden":
            assert spec.action in error["message"] and role in error["message"]
    events = _cli_calls(own.tenant)
    assert len(events) == calls + 1  # one audit event per call, as the MCP server leaves
    audited = events[-1]
    assert audited.actor == own.user(role) and audited.data["tool"] == tool_name
    assert audited.data["outcome"] == expected and audited.data["role"] == role
    if expected != "ok" or spec.read_only:
        assert _snapshot() == before  # refusals and reads change nothing


# --- listing and bad input --------------------------------------------------------------------------------


def test_list_shows_every_tool_with_its_least_role_and_kind(db):
    code, stdout, _ = tool("--list")
    assert code == 0
    lines = {line.split()[0]: line.split()[1:3] for line in stdout.splitlines()}
    assert list(lines) == list(all_tools())
    for name, spec in all_tools().items():
        assert lines[name] == [spec.least_role, "read-only" if spec.read_only else "mutating"]
    assert lines["request"] == ["operator", "mutating"]
    assert lines["ec2_list_instances"] == ["viewer", "read-only"]
    _, as_json, _ = tool("--list", "--json")
    assert {row["name"]: row["least_role"] for row in json.loads(as_json)}["plan"] == "operator"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no_such_tool", "--tenant", "acme", "--user", "operator@acme.test"], "Unknown tool 'no_such_tool'"),
        (["list_runs", "--tenant", "nowhere", "--user", "operator@acme.test"], "No tenant nowhere"),
        (["list_runs", "--tenant", "acme", "--user", "nobody@acme.test"], "No user nobody@acme.test"),
        (["list_runs", "--tenant", "acme"], "--user EMAIL"),
        (["list_runs", "--tenant", "globex", "--user", "operator@acme.test"], "not a member of globex"),
        (
            ["list_runs", "--tenant", "acme", "--user", "operator@acme.test", "--args", "{run"],
            "not valid JSON",
        ),
        (["list_runs", "--tenant", "acme", "--user", "operator@acme.test", "--args", "[1]"], "a JSON object"),
        (
            ["validate", "--tenant", "acme", "--user", "operator@acme.test", "--config", "dev"],
            "takes no config",
        ),
        ([], "Name a tool"),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_1(argv, message, own, other):
    before = AuditEvent.objects.count()
    code, _, stderr = tool(*argv)
    assert code == 1 and message in stderr, stderr
    assert AuditEvent.objects.count() == before  # refused before any tool ran


def test_invalid_arguments_are_a_tool_error_as_json(own):
    code, stdout, _ = as_member(own, "operator", "generate", {"request": "", "confg": "dev"})
    assert code == 1
    error = json.loads(stdout)["error"]
    assert error["code"] == "invalid" and "confg" in error["message"] and "request" in error["details"]
    assert Run.objects.count() == 0


def test_a_deactivated_member_cannot_act(own):
    user = own.user("operator")
    user.is_active = False
    user.save(update_fields=["is_active"])
    code, _, stderr = as_member(own, "operator", "list_runs", {})
    assert code == 1 and "deactivated" in stderr


def test_the_role_is_the_members_current_one(own):
    Membership.objects.filter(user=own.user("approver"), tenant=own.tenant).update(role="viewer")
    code, stdout, _ = as_member(own, "approver", "generate", {"request": "create an s3 bucket named acme-x"})
    assert code == 1 and json.loads(stdout)["error"]["code"] == "forbidden"
    assert Run.objects.count() == 0


# --- the config ----------------------------------------------------------------------------------------


def test_the_config_defaults_to_the_users_portal_config(own):
    code, stdout, _ = as_member(own, "operator", "generate", {"request": "create an s3 bucket named acme-a"})
    assert code == 0, stdout
    assert Run.objects.get().config == own.dev  # the portal starts on the first non-prod config
    code, stdout, _ = as_member(
        own, "operator", "generate", {"request": "create an s3 bucket named acme-b"}, "--config", "prod"
    )
    assert code == 0, stdout
    assert Run.objects.get(request_text__endswith="acme-b").config == own.prod
    assert _cli_calls(own.tenant)[0].data["arguments"]["config"] == str(own.dev.pk)


def test_a_config_given_twice_is_refused(own):
    code, _, stderr = as_member(
        own, "operator", "generate", {"request": "x", "config": "dev"}, "--config", "prod"
    )
    assert code == 1 and "once" in stderr
    assert Run.objects.count() == 0


def test_a_filtering_config_is_not_defaulted(own):
    """list_runs's config filters; without --config it lists every config's runs, as the Runs page does."""
    dev_run, prod_run = planned_run(own), planned_run(own, env="prod")
    code, stdout, _ = as_member(own, "viewer", "list_runs", {}, "--json")
    assert code == 0
    assert {r["id"] for r in json.loads(stdout)["runs"]} == {dev_run.pk, prod_run.pk}
    _, stdout, _ = as_member(own, "viewer", "list_runs", {}, "--json", "--config", "prod")
    assert [r["id"] for r in json.loads(stdout)["runs"]] == [prod_run.pk]


def test_text_output_is_readable(own):
    run = planned_run(own)
    code, stdout, _ = as_member(own, "viewer", "run_status", {"run_id": run.pk})
    assert code == 0
    assert f"id: {run.pk}" in stdout and "status: awaiting_approval" in stdout
    assert not stdout.lstrip().startswith("{")


# --- aws.read: restricted configs narrow reading the account ---------------------------------------------


def _restrict_prod(world):
    config_update(actor_membership=world.members["admin"], config_id=world.prod.pk, restricted=True)


def _grant(world, role: str):
    from tenants.services import config_set_grant

    config_set_grant(
        actor_membership=world.members["admin"],
        config_id=world.prod.pk,
        user_id=world.user(role).pk,
        granted=True,
    )


def _instance_in(world) -> str:
    from tenants.aws import session_for_account

    ec2 = session_for_account(world.account).client("ec2")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    reservation = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    return reservation["Instances"][0]["InstanceId"]


def test_a_viewer_reads_a_restricted_account_only_with_a_grant(own, sandbox_settings):
    _restrict_prod(own)
    instance = _instance_in(own)
    code, stdout, _ = as_member(own, "viewer", "ec2_list_instances", {"config": "prod"}, "--json")
    assert code == 1
    error = json.loads(stdout)["error"]
    assert error["code"] == "forbidden" and "prod is restricted" in error["message"]
    assert "aws.read" in error["message"]

    _grant(own, "viewer")
    code, stdout, _ = as_member(own, "viewer", "ec2_list_instances", {"config": "prod"}, "--json")
    assert code == 0, stdout
    result = json.loads(stdout)
    assert result["config"] == "prod"
    assert instance in {i["id"] for i in result["instances"]}


def test_an_unrestricted_config_and_admins_read_without_a_grant(own, sandbox_settings):
    _restrict_prod(own)
    assert as_member(own, "viewer", "ec2_list_instances", {"config": "dev"})[0] == 0
    assert as_member(own, "admin", "ec2_list_instances", {"config": "prod"})[0] == 0
    code, stdout, _ = as_member(own, "operator", "ecs_list_clusters", {"config": "prod"})
    assert code == 1 and json.loads(stdout)["error"]["code"] == "forbidden"
