"""The MCP tool layer in-process: the role × own/other-tenant matrix for every tool, and what each tool
does (through `registry.invoke`, the entry point both transports use)."""

from __future__ import annotations

import json

import pytest

from agents.circuit_breaker import CircuitBreaker, reset_aws_breaker
from agents.mcp import registry
from agents.mcp.registry import ToolFailure, all_tools, invoke
from blueprints.models import Blueprint
from conftest import ROLES
from runs import artifacts
from runs.models import AuditEvent, Notification, Run, RunEvent
from runs.states import RunStatus
from runs.tests.factories import planned_run
from tenants.models import Membership
from tenants.roles import role_allows
from tenants.tokens import token_authenticate, token_create

from .tool_samples import NO_TARGET, SAMPLES, with_plan_json

S = RunStatus


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch, settings, tmp_path):
    """Tasks are recorded instead of sent; the heartbeat is off."""
    from runs import tasks

    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(tasks, "dispatch", lambda name, **kw: sent.append((name, kw)))
    monkeypatch.setattr(tasks, "dispatch_webhook", lambda **kw: sent.append(("webhook", kw)))
    settings.GANTRY_HEARTBEAT_SECONDS = 0
    settings.GANTRY_WORK_ROOT = tmp_path / "work"
    settings.GANTRY_APPROVALS_REQUIRED = {"prod": 2, "dev": 1}
    settings.GANTRY_LLM_MODEL = ""
    reset_aws_breaker()
    yield sent
    reset_aws_breaker()


def identity_for(world, role, *, token_role=None):
    user = world.user(role)
    _, raw = token_create(user=user, tenant=world.tenant, name=f"mcp-{role}", role=token_role or role)
    return token_authenticate(raw)


def calls_audited(identity) -> int:
    return AuditEvent.objects.filter(tenant=identity.tenant, action=registry.AUDIT_ACTION).count()


def outcome(identity, name, arguments):
    """("ok", result) or (failure code, message)."""
    try:
        return "ok", invoke(identity, name, arguments)
    except ToolFailure as failure:
        return failure.code, failure.message


# --- the matrix ---------------------------------------------------------------------------------------


# tool -> how to call it against a target world; list_blueprints takes no target (its scoping is below)
MATRIX = {name: (None if name in NO_TARGET else sample) for name, sample in SAMPLES.items()}


def test_the_matrix_covers_every_tool():
    assert set(MATRIX) == set(all_tools())


def _snapshot():
    return (
        Run.objects.count(),
        sorted(Run.objects.values_list("pk", "status")),
        RunEvent.objects.count(),
        Notification.objects.count(),
    )


def _check_cell(tool_name, role, target, own, other, *, with_run=True):
    identity = identity_for(own, role)
    world = own if target == "own" else other
    run = with_plan_json(planned_run(world, requester=world.user("operator"))) if with_run else None
    arguments = MATRIX[tool_name](world, run)
    spec = all_tools()[tool_name]
    before, audited = _snapshot(), calls_audited(identity)

    code, result = outcome(identity, tool_name, arguments)

    allowed = role_allows(role, spec.action)
    expected = ("ok" if target == "own" else "not_found") if allowed else "forbidden"
    assert code == expected, result
    assert calls_audited(identity) == audited + 1  # every call leaves an audit event
    if code != "ok" or spec.read_only:
        assert _snapshot() == before  # refusals (and reads) change nothing
    if code == "not_found":
        assert "not found" in result.lower()


# Tools that reach the account (reads, and the ops tools that resolve targets when they plan).
AWS_TOOLS = [
    name
    for name, spec in all_tools().items()
    if spec.handler.__module__.endswith("aws_tools")
    or (spec.handler.__module__.endswith("ops_tools") and "run_id" not in spec.args.model_fields)
]
GANTRY_TOOLS = [name for name, args in MATRIX.items() if args is not None and name not in AWS_TOOLS]


@pytest.mark.parametrize("target", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("tool_name", GANTRY_TOOLS)
def test_role_by_tenant_matrix(tool_name, role, target, own, other):
    _check_cell(tool_name, role, target, own, other)


@pytest.mark.parametrize("target", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("tool_name", AWS_TOOLS)
def test_aws_role_by_tenant_matrix(tool_name, role, target, own, other, sandbox_settings):
    _check_cell(tool_name, role, target, own, other, with_run=False)


@pytest.mark.parametrize("role", ROLES)
def test_listing_tools_show_only_the_token_tenant(role, own, other):
    identity = identity_for(own, role)
    mine, theirs = planned_run(own), planned_run(other)
    _, runs = outcome(identity, "list_runs", {})
    assert [r["id"] for r in runs["runs"]] == [mine.pk]
    assert theirs.pk not in [r["id"] for r in runs["runs"]]
    outcome(identity_for(other, "admin"), "run_status", {"run_id": theirs.pk})  # audit events over there
    theirs_events = set(AuditEvent.objects.filter(tenant=other.tenant).values_list("pk", flat=True))
    code, events = outcome(identity, "search_audit", {})
    if role_allows(role, "audit.view"):
        assert code == "ok" and events["events"]
        assert not {e["id"] for e in events["events"]} & theirs_events
    Blueprint.objects.create(tenant=own.tenant, name="Ours", slug="ours", stack="static_bucket")
    Blueprint.objects.create(tenant=other.tenant, name="Theirs", slug="theirs", stack="static_bucket")
    code, blueprints = outcome(identity, "list_blueprints", {"scope": "tenant"})
    assert code == "ok" and [b["slug"] for b in blueprints["blueprints"]] == ["ours"]


# --- identity: tokens bind a tenant and cap the role -------------------------------------------------


def test_a_token_is_bound_to_its_tenant_even_for_a_member_of_both(own, other):
    user = own.user("admin")
    Membership.objects.create(tenant=other.tenant, user=user, role="admin")
    theirs = planned_run(other)
    identity = identity_for(own, "admin")
    assert Run.objects.for_user(user, "view").filter(pk=theirs.pk).exists()  # the portal would show it
    assert outcome(identity, "run_status", {"run_id": theirs.pk}) == (
        "not_found",
        f"Run #{theirs.pk} not found.",
    )


def test_the_token_role_caps_the_member_role(own):
    identity = identity_for(own, "admin", token_role="viewer")
    count = Run.objects.count()
    code, message = outcome(identity, "generate", {"request": "create an s3 bucket named acme-x"})
    assert code == "forbidden" and "viewer" in message
    assert Run.objects.count() == count


def test_a_viewer_token_cannot_plan(own):
    run = planned_run(own)
    identity = identity_for(own, "viewer")
    code, message = outcome(identity, "plan", {"run_id": run.pk, "refresh": True})
    assert code == "forbidden" and "run.plan" in message
    assert Run.objects.count() == 1 and Run.objects.get().status == S.AWAITING_APPROVAL


# --- what the tools do ----------------------------------------------------------------------------------


def test_every_call_is_audited_with_tool_arguments_and_outcome(own):
    identity = identity_for(own, "operator")
    outcome(identity, "generate", {"request": "create an s3 bucket named acme-audit-me", "config": "dev"})
    outcome(identity, "run_status", {"run_id": 999999})
    outcome(identity, "plan", {"run_id": "not a number"})
    outcome(identity, "no_such_tool", {})
    events = list(AuditEvent.objects.filter(tenant=own.tenant, action=registry.AUDIT_ACTION).order_by("seq"))
    assert [(e.data["tool"], e.data["outcome"]) for e in events] == [
        ("generate", "ok"),
        ("run_status", "not_found"),
        ("plan", "invalid"),
        ("no_such_tool", "not_found"),
    ]
    first = events[0]
    assert first.actor == own.user("operator") and first.object_id == str(identity.token.pk)
    assert first.data["arguments"] == {"request": "create an s3 bucket named acme-audit-me", "config": "dev"}
    assert first.data["run"] == Run.objects.get().pk and first.data["token"] == identity.token.prefix
    assert "not found" in events[1].data["error"].lower()


def test_bad_arguments_get_a_clear_error_and_change_nothing(own):
    identity = identity_for(own, "operator")
    code, message = outcome(identity, "generate", {"request": "", "confg": "dev"})
    assert code == "invalid"
    assert "request" in message and "confg" in message
    code, message = outcome(identity, "list_runs", {"status": ["planing"]})
    assert code == "invalid" and "unknown status planing" in message
    code, message = outcome(identity, "cloudwatch_get_metric_statistics", {"namespace": "AWS/EC2"})
    assert code == "invalid" and "metric_name" in message
    assert Run.objects.count() == 0


def test_generate_creates_a_queued_run_on_the_default_config(own, _no_broker):
    identity = identity_for(own, "operator")
    code, result = outcome(identity, "generate", {"request": "create an s3 bucket named acme-assets"})
    assert code == "ok", result
    run = Run.objects.get()
    assert (
        result["run"]["id"] == run.pk and run.config == own.dev and run.requested_by == own.user("operator")
    )
    assert run.status == S.QUEUED and result["run"]["status"] == "queued"
    assert "plan" in result["next_step"]


def test_nl_intent_parses_without_creating_anything(own):
    identity = identity_for(own, "viewer")
    code, result = outcome(identity, "nl_intent", {"text": "create 2 t3.medium instances behind an ALB"})
    assert code == "ok", result
    assert result["created"] is False and result["intent"]["action"] == "create"
    assert result["config"] == "dev" and "commit" in result
    assert Run.objects.count() == 0


def test_plan_refresh_replans_as_a_new_run_and_supersedes_the_waiting_one(own, _no_broker):
    run = planned_run(own)
    identity = identity_for(own, "operator")
    code, result = outcome(identity, "plan", {"run_id": run.pk, "refresh": True, "wait_seconds": 0})
    assert code == "ok", result
    new = Run.objects.exclude(pk=run.pk).get()
    assert result["run"]["id"] == new.pk and result["replaces"] == run.pk and result["planning"] is True
    run.refresh_from_db()
    assert run.status == S.SUPERSEDED and new.replaces_id == run.pk and new.status == S.QUEUED


def test_plan_on_a_waiting_run_answers_its_plan_and_approvals(own):
    run = planned_run(own)
    identity = identity_for(own, "operator")
    _, result = outcome(identity, "plan", {"run_id": run.pk, "wait_seconds": 0})
    assert result["run"]["status"] == "awaiting_approval" and result["planning"] is False
    assert result["plan_sha256"] == run.plan_sha256
    assert result["approvals"]["required"] == 1 and result["approvals"]["given"] == 0
    assert [g["name"] for g in result["gates"]] == ["safety", "opa", "cost"]


def test_request_apply_asks_approvers_once_and_never_applies(own):
    run = planned_run(own, requester=own.user("operator"))
    identity = identity_for(own, "operator")
    code, result = outcome(identity, "request_apply", {"run_id": run.pk, "note": "for the launch"})
    assert code == "ok", result
    assert result["requested"] is True and result["approvers_notified"] == 2  # approver and admin
    notified = set(Notification.objects.filter(run=run).values_list("user__email", flat=True))
    assert notified == {"approver@acme.test", "admin@acme.test"}
    assert AuditEvent.objects.filter(action="run.approval_requested", object_id=str(run.pk)).count() == 1
    run.refresh_from_db()
    assert run.status == S.AWAITING_APPROVAL and run.apply_requested_at is None

    _, again = outcome(identity, "request_apply", {"run_id": run.pk})
    assert again["already_requested"] is True and again["approvers_notified"] == 0
    assert Notification.objects.filter(run=run).count() == 2


def test_request_apply_on_an_approved_run_refuses_to_apply(own):
    run = planned_run(own, status=S.APPROVED)
    identity = identity_for(own, "admin")
    code, message = outcome(identity, "request_apply", {"run_id": run.pk})
    assert code == "conflict" and "agents cannot apply" in message
    run.refresh_from_db()
    assert run.status == S.APPROVED and run.apply_requested_at is None


def test_request_apply_refuses_a_stale_plan(own):
    run = planned_run(own)
    type(own.dev).objects.filter(pk=own.dev.pk).update(version=own.dev.version + 1)
    code, message = outcome(identity_for(own, "operator"), "request_apply", {"run_id": run.pk})
    assert code == "conflict" and "stale" in message
    assert not Notification.objects.filter(run=run).exists()


def test_plan_summary_is_a_compact_masked_digest(own):
    run = with_plan_json(planned_run(own))
    _, result = outcome(identity_for(own, "viewer"), "plan_summary", {"run_id": run.pk, "max_attributes": 3})
    assert result["counts"] == {"create": 1, "update": 1, "delete": 1, "replace": 0, "read": 0}
    by_address = {r["address"]: r for r in result["resources"]}
    assert set(by_address) == {"aws_s3_bucket.logs", "aws_db_instance.main", "aws_instance.old"}
    assert by_address["aws_s3_bucket.logs"]["attributes"]["bucket"] == "acme-logs"
    assert by_address["aws_db_instance.main"]["attributes"] == {
        "instance_class": {"before": "db.t3.micro", "after": "db.t3.small"}
    }
    _, small = outcome(identity_for(own, "viewer"), "plan_summary", {"run_id": run.pk, "max_resources": 1})
    assert small["resources_shown"] == 1 and small["truncated"] is True


# Secrets the provider does not mark sensitive (no before/after_sensitive anywhere), as `terraform show
# -json` prints them: a password attribute, a token under a longer name, a URL's credentials, a secret
# access key, a password inside user data.
UNMARKED_SECRETS = ("hunter2-db-pass", "tok-9f8e7d6c5b4a", "Sup3rS3cretPw", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                    "shell-pass-0042")  # fmt: skip
RAW_PLAN = {
    "resource_changes": [
        {
            "address": "aws_lambda_function.api",
            "type": "aws_lambda_function",
            "change": {
                "actions": ["create"],
                "before": None,
                "after": {
                    "function_name": "api",
                    "environment": [
                        {"variables": {"DATABASE_URL": "postgres://app:Sup3rS3cretPw@db:5432/app"}}
                    ],
                    "tags": {"Owner": "team", "deploy_token": "tok-9f8e7d6c5b4a"},
                    "description": "key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                },
                "after_unknown": {},
            },
        },
        {
            "address": "aws_db_instance.main",
            "type": "aws_db_instance",
            "change": {
                "actions": ["update"],
                "before": {"instance_class": "db.t3.micro", "password": "old-pass-1"},
                "after": {"instance_class": "db.t3.small", "password": "hunter2-db-pass"},
                "after_unknown": {},
            },
        },
        {
            "address": "aws_instance.web",
            "type": "aws_instance",
            "change": {
                "actions": ["create"],
                "before": None,
                "after": {
                    "instance_type": "t3.micro",
                    "user_data": "#!/bin/sh\nexport DB_PASSWORD=shell-pass-0042",
                },
                "after_unknown": {},
            },
        },
    ]
}


@pytest.mark.parametrize("stored", ["as the pipeline stores it", "unredacted"])
def test_plan_summary_never_shows_a_secret_the_provider_did_not_mark(own, stored):
    """The digest of a plan whose secrets carry no sensitive marks: none of them reaches the caller, whether
    the artifact went through the pipeline's redaction or (stored before a rule existed) did not."""
    from iac.pipeline import redact_plan_json

    plan = redact_plan_json(RAW_PLAN) if stored == "as the pipeline stores it" else RAW_PLAN
    run = planned_run(own)
    artifacts.artifact_store(run=run, kind="plan_json_redacted", content=json.dumps(plan))
    _, result = outcome(identity_for(own, "viewer"), "plan_summary", {"run_id": run.pk, "max_attributes": 20})
    shown = json.dumps(result)
    assert [secret for secret in UNMARKED_SECRETS if secret in shown] == []
    by_address = {r["address"]: r["attributes"] for r in result["resources"]}
    assert by_address["aws_db_instance.main"]["instance_class"]["after"] == "db.t3.small"  # the rest stays
    assert (
        "postgres://app:***REDACTED***@db" in shown
        and by_address["aws_lambda_function.api"]["function_name"] == "api"
    )


def test_plan_summary_without_a_plan_says_so(own):
    run = planned_run(own)
    code, message = outcome(identity_for(own, "viewer"), "plan_summary", {"run_id": run.pk})
    assert code == "not_found" and "no plan yet" in message


def test_validate_lists_gates_and_warnings(own):
    from runs.tests.factories import gate, warning

    run = planned_run(own, gates=[gate("safety"), gate("checkov_code", "warn", [warning("CKV_AWS_1")])])
    _, result = outcome(identity_for(own, "viewer"), "validate", {"run_id": run.pk})
    assert [g["name"] for g in result["gates"]] == ["safety", "checkov_code"]
    assert result["gates"][1]["findings"][0]["rule"] == "CKV_AWS_1"
    assert result["warnings_to_acknowledge"] == ["checkov_code:CKV_AWS_1:aws_s3_bucket.this"]


# --- AWS: errors and the breaker ------------------------------------------------------------------------


def test_an_open_breaker_answers_at_once_with_retry_after(own, monkeypatch):
    identity = identity_for(own, "viewer")
    calls = []

    def unreachable(account, **kwargs):
        calls.append(account.pk)
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=60)
    monkeypatch.setattr("agents.aws_readonly.aws_breaker", lambda: breaker)
    monkeypatch.setattr("agents.aws_readonly.session_for_account", unreachable)
    for _ in range(2):
        code, message = outcome(identity, "ec2_list_instances", {})
        assert code == "aws_error" and "Could not reach AWS ec2" in message
    code, message = outcome(identity, "ec2_list_instances", {})
    assert code == "unavailable" and "AWS temporarily unavailable, retry after 60 s" in message
    assert len(calls) == 2  # the open circuit did not call AWS
    assert outcome(identity, "rds_list_db_instances", {})[0] == "aws_error"  # other services unaffected


def test_aws_reads_are_refused_outside_the_account_regions(own, sandbox_settings):
    code, message = outcome(identity_for(own, "viewer"), "ec2_list_instances", {"region": "eu-west-3"})
    assert code == "invalid" and "eu-west-3 is not allowed" in message


def test_an_unexpected_error_is_an_internal_error_without_a_traceback(own, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("agents.mcp.run_tools.runs_for_user", broken)
    code, message = outcome(identity_for(own, "viewer"), "list_runs", {})
    assert code == "internal" and "secret internals" not in message and "Reference" in message


# --- request: anything a user can type -------------------------------------------------------------------


def _request(identity, text, **extra):
    return outcome(identity, "request", {"text": text, "wait_seconds": 0, **extra})


def test_request_for_a_change_creates_the_run_the_console_would(own):
    code, result = _request(identity_for(own, "operator"), "create an s3 bucket named acme-assets")
    assert code == "ok", result
    run = Run.objects.get()
    assert result["created"] is True and result["agent"] == "infra" and result["answer"] == "ready"
    assert result["run"]["id"] == run.pk and run.status == S.QUEUED and run.config == own.dev
    assert (
        run.requested_by == own.user("operator")
        and run.request_text == "create an s3 bucket named acme-assets"
    )
    assert "plan" in result["next_step"]


def test_request_that_needs_answers_returns_the_questions(own):
    code, result = _request(identity_for(own, "operator"), "make it bigger")
    assert code == "ok", result
    run = Run.objects.get()
    assert run.status == S.NEEDS_CLARIFICATION and result["run"]["status"] == "needs_clarification"
    assert result["run"]["questions"] and all(q["question"] for q in result["run"]["questions"])


@pytest.mark.parametrize(
    ("text", "domain"),
    [("how much did we spend last month", "cost"), ("check my compliance", "compliance")],
)
def test_request_for_a_domain_without_an_agent_says_so_and_creates_nothing(own, text, domain):
    identity = identity_for(own, "operator")
    code, result = _request(identity, text)
    assert code == "ok", result
    assert result["created"] is False and result["answer"] == "not_available"
    assert result["intent"]["domain"] == domain and "not available yet" in result["message"]
    assert Run.objects.count() == 0
    assert AuditEvent.objects.filter(action=registry.AUDIT_ACTION, data__tool="request").count() == 1


def test_a_refused_request_creates_nothing(own):
    code, result = _request(identity_for(own, "operator"), "create a database")
    assert code == "ok", result
    assert result["created"] is False and result["answer"] == "refused" and result["refusals"]
    assert Run.objects.count() == 0


def test_request_on_a_restricted_config_needs_a_grant(own):
    from tenants.services import config_update

    config_update(actor_membership=own.members["admin"], config_id=own.prod.pk, restricted=True)
    code, message = _request(identity_for(own, "operator"), "create an s3 bucket named acme-p", config="prod")
    assert code == "forbidden" and "prod is restricted" in message
    code, message = _request(identity_for(own, "viewer"), "create an s3 bucket named acme-p")
    assert code == "forbidden" and "run.create" in message
    assert Run.objects.count() == 0


def test_a_viewer_token_reads_a_restricted_account_only_with_a_grant(own, sandbox_settings):
    from tenants.services import config_set_grant, config_update

    config_update(actor_membership=own.members["admin"], config_id=own.prod.pk, restricted=True)
    identity = identity_for(own, "viewer")
    code, message = outcome(identity, "ec2_list_instances", {"config": "prod"})
    assert code == "forbidden" and "aws.read" in message
    code, _ = outcome(identity, "ec2_list_instances", {})  # the default is a config they may read
    assert code == "ok"
    config_set_grant(
        actor_membership=own.members["admin"],
        config_id=own.prod.pk,
        user_id=own.user("viewer").pk,
        granted=True,
    )
    code, result = outcome(identity, "ec2_list_instances", {"config": "prod"})
    assert code == "ok" and result["config"] == "prod"
