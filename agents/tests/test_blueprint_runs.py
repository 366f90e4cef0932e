"""Runs and blueprints: the intent commit with a cost, blueprint use recorded by runs, runs created from a
chosen blueprint version, and "save as blueprint" from an applied run."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from blueprints.models import Blueprint, BlueprintStatus
from blueprints.services import blueprint_approve, blueprint_create_from_spec, blueprint_save_from_run
from iac.spec import CompositionSpec
from runs import services
from runs.models import AuditEvent, Run
from runs.services import run_create, run_replan
from runs.states import RunStatus as S
from runs.tests.factories import RunFactory

WEB_SPEC = {
    "stack": "web_tier",
    "parameters": {"name": "shop-web", "instance_type": "m5.large", "instance_count": 4},
    "tags": {"team": "shop"},
}
APPLIED_SPEC = {
    "stack": "static_bucket",
    "parameters": {"bucket_name": "acme-assets", "versioning_enabled": True, "force_destroy": False},
    "tags": {"team": "web", "gantry:stack": "static_bucket"},
    "region": "ap-south-1",
}


def state(world=None):
    """Everything a refused call must leave as it was."""
    return (
        Run.objects.count(),
        Blueprint.objects.count(),
        AuditEvent.objects.count(),
        sorted(Blueprint.objects.values_list("pk", "usage_count")),
    )


def shop_blueprint(world, *, approve=True):
    blueprint = blueprint_create_from_spec(
        tenant=world.tenant, user=world.user("operator"), spec=WEB_SPEC, name="Shop web tier"
    )
    if approve:
        blueprint_approve(blueprint=blueprint, user=world.user("approver"))
    return blueprint.latest_version()


# --- every run: the commit and the blueprint it starts from ----------------------------------------


def test_run_records_the_intent_commit_with_a_cost_and_the_blueprint_used(own):
    run = run_create(
        user=own.user("operator"), config_id=own.dev.pk, request_text="Create 2 t3.small behind an ALB"
    )
    commit = run.belief["commit"]
    assert commit["estimate"] is not None and commit["cost_text"].startswith("About ")
    assert any("EC2 t3.small" in line["what"] for line in commit["estimate"]["lines"])
    used = Blueprint.objects.get(versions__pk=run.blueprint_version_id)
    assert used.stack == "web_tier" and used.usage_count == 1
    event = AuditEvent.objects.get(action="blueprint.used")
    assert event.data["run_id"] == run.pk and event.tenant_id == own.tenant.pk
    assert run.belief["blueprint"]["version_id"] == run.blueprint_version_id


def test_a_request_no_blueprint_serves_records_no_use(own):
    run = run_create(user=own.user("operator"), config_id=own.dev.pk, request_text="Create a lambda function")
    assert run.blueprint_version_id is None
    assert not AuditEvent.objects.filter(action="blueprint.used").exists()
    assert run.belief["commit"]["refusals"]  # the commit says why, before any generation


def test_a_reviewing_failure_does_not_lose_the_request(own, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("router bug")

    monkeypatch.setattr("agents.commit.review_request", broken)
    run = run_create(
        user=own.user("operator"), config_id=own.dev.pk, request_text="create a bucket named x-1"
    )
    assert run.status == S.QUEUED and run.intent and run.blueprint_version_id is None


# --- runs from a chosen blueprint version ----------------------------------------------------------


def test_run_from_a_blueprint_version_uses_its_spec_with_the_requests_parameters(own):
    version = shop_blueprint(own)
    run = run_create(
        user=own.user("operator"),
        config_id=own.dev.pk,
        request_text="same again but with 3 instances",
        blueprint_version_id=version.pk,
    )
    assert run.status == S.QUEUED and run.blueprint_version_id == version.pk
    spec = CompositionSpec.parse(run.spec)  # a full spec, fixed at creation
    assert spec.stack == "web_tier" and spec.workspace == own.dev.workspace
    assert spec.parameters["instance_type"] == "m5.large"  # from the blueprint
    assert spec.parameters["instance_count"] == 3  # from the request
    assert spec.parameters["ami_id"]  # platform input
    assert version.blueprint.__class__.objects.get(pk=version.blueprint_id).usage_count == 1
    assert run.belief["reused_blueprint_version"] == version.pk
    assert run.belief["commit"]["stacks"] == ["web_tier"]


def test_generation_keeps_the_blueprint_spec(own):
    from runs.worker import _generate

    version = shop_blueprint(own)
    run = run_create(
        user=own.user("operator"),
        config_id=own.dev.pk,
        request_text="reuse it",
        blueprint_version_id=version.pk,
    )
    status, fields, _ = _generate(run)
    assert status == S.VALIDATING and fields["spec"] == run.spec


def test_replan_of_a_blueprint_run_keeps_its_spec(own):
    version = shop_blueprint(own)
    run = run_create(
        user=own.user("operator"),
        config_id=own.dev.pk,
        request_text="reuse it",
        blueprint_version_id=version.pk,
    )
    again = run_replan(user=own.user("operator"), run_id=run.pk)
    assert again.spec == run.spec and again.blueprint_version_id == version.pk


def test_platform_blueprint_version_can_be_reused(own):
    platform = Blueprint.objects.get(tenant__isnull=True, stack="static_bucket")
    run = run_create(
        user=own.user("operator"),
        config_id=own.dev.pk,
        request_text="a bucket named acme-reports",
        blueprint_version_id=platform.latest_approved_version().pk,
    )
    assert CompositionSpec.parse(run.spec).parameters["bucket_name"] == "acme-reports"
    assert run.blueprint_version_id == platform.latest_approved_version().pk


def test_another_tenants_blueprint_version_is_refused_and_changes_nothing(own, other):
    version = shop_blueprint(other)
    before = state()
    with pytest.raises(ValidationError) as caught:
        run_create(
            user=own.user("admin"),
            config_id=own.dev.pk,
            request_text="reuse",
            blueprint_version_id=version.pk,
        )
    assert "does not exist" in str(caught.value)
    assert state() == before


def test_unknown_and_unapproved_versions_are_refused(own):
    draft = shop_blueprint(own, approve=False)
    before = state()
    with pytest.raises(ValidationError, match="not approved"):
        run_create(
            user=own.user("operator"),
            config_id=own.dev.pk,
            request_text="reuse",
            blueprint_version_id=draft.pk,
        )
    with pytest.raises(ValidationError, match="does not exist"):
        run_create(
            user=own.user("operator"),
            config_id=own.dev.pk,
            request_text="reuse",
            blueprint_version_id=999_999,
        )
    assert state() == before


def test_a_blueprint_run_the_config_refuses_is_a_clear_error(own):
    own.account.allowed_services = ["s3"]
    own.account.save(update_fields=["allowed_services"])
    version = shop_blueprint(own)
    before = state()
    with pytest.raises(ValidationError, match="does not allow"):
        run_create(
            user=own.user("operator"),
            config_id=own.dev.pk,
            request_text="reuse",
            blueprint_version_id=version.pk,
        )
    assert state() == before


def test_viewer_cannot_create_a_blueprint_run(own):
    version = shop_blueprint(own)
    before = state()
    with pytest.raises(PermissionDenied):
        run_create(
            user=own.user("viewer"),
            config_id=own.dev.pk,
            request_text="reuse",
            blueprint_version_id=version.pk,
        )
    assert state() == before


def test_blueprint_use_is_counted_in_the_same_transaction_as_the_run(own, monkeypatch):
    version = shop_blueprint(own)

    def fail(*args, **kwargs):
        raise RuntimeError("crash after the run row")

    monkeypatch.setattr(services, "_record_blueprint_use", fail)
    before = state()
    with pytest.raises(RuntimeError):
        run_create(
            user=own.user("operator"),
            config_id=own.dev.pk,
            request_text="reuse",
            blueprint_version_id=version.pk,
        )
    assert state() == before


# --- save as blueprint -----------------------------------------------------------------------------


def applied_run(world, **fields):
    values = {"status": S.APPLIED, "spec": APPLIED_SPEC, "source_sha256": "ab" * 32, **fields}
    return RunFactory(config=world.dev, requested_by=world.user("operator"), **values)


@pytest.mark.parametrize(
    ("role", "allowed"), [("viewer", False), ("operator", True), ("approver", True), ("admin", True)]
)
def test_save_as_blueprint_permissions_in_the_own_tenant(own, role, allowed):
    run = applied_run(own)
    before = state()
    if not allowed:
        with pytest.raises(PermissionDenied):
            blueprint_save_from_run(user=own.user(role), run_id=run.pk, name="Assets bucket")
        assert state() == before
        return
    blueprint = blueprint_save_from_run(
        user=own.user(role), run_id=run.pk, name="Assets bucket", description="From the launch"
    )
    assert blueprint.tenant == own.tenant and blueprint.status == BlueprintStatus.DRAFT
    assert blueprint.source_run_id == run.pk and blueprint.stack == "static_bucket"
    version = blueprint.latest_version()
    assert version.source_sha256 == "ab" * 32
    assert "bucket_name" not in version.spec["parameters"]  # the deployment's name stays with the run
    assert version.spec["tags"] == {"team": "web"}  # system tags dropped
    assert AuditEvent.objects.get(action="blueprint.created").data["run_id"] == run.pk


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "admin"])
def test_save_as_blueprint_from_another_tenants_run_is_not_found(own, other, role):
    run = applied_run(other)
    before = state()
    with pytest.raises(Run.DoesNotExist):
        blueprint_save_from_run(user=own.user(role), run_id=run.pk, name="Stolen")
    assert state() == before


@pytest.mark.parametrize(
    "fields",
    [{"status": S.AWAITING_APPROVAL}, {"status": S.FAILED}, {"kind": "destroy"}, {"spec": {}}],
)
def test_only_an_applied_change_can_be_saved(own, fields):
    run = applied_run(own, **fields)
    before = state()
    with pytest.raises(ValidationError):
        blueprint_save_from_run(user=own.user("operator"), run_id=run.pk, name="Nope")
    assert state() == before


def test_save_as_blueprint_needs_a_name(own):
    run = applied_run(own)
    before = state()
    with pytest.raises(ValidationError, match="name"):
        blueprint_save_from_run(user=own.user("operator"), run_id=run.pk, name="  ")
    assert state() == before
