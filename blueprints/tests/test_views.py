"""Blueprint pages: the library's search and scoping, the detail page, approving a version, "save as
blueprint" from an applied run, and the role × own/other-tenant permission matrix for every view."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.urls import reverse

from blueprints.models import Blueprint, BlueprintStatus, BlueprintVersion
from blueprints.services import blueprint_approve, blueprint_create_from_spec
from runs.models import AuditEvent
from runs.states import RunStatus
from runs.tests.factories import RunFactory
from tenants.models import Membership
from tenants.roles import Role, role_allows

ROLES = [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN]

WEB_SPEC = {
    "stack": "web_tier",
    "action": "create",
    "parameters": {
        "name": "shop-web",
        "ami_id": "ami-0123456789abcdef0",
        "instance_type": "m5.large",
        "instance_count": 4,
    },
    "tags": {"team": "shop", "gantry:tenant": "acme"},
    "region": "ap-south-1",
    "account_id": "123456789012",
    "workspace": "acme-dev",
}


def saved(world, name="Shop web tier", approve=False, description="Storefront servers behind an ALB"):
    blueprint = blueprint_create_from_spec(
        tenant=world.tenant, user=world.user(Role.OPERATOR), spec=WEB_SPEC, name=name, description=description
    )
    if approve:
        blueprint_approve(blueprint=blueprint, user=world.user(Role.APPROVER))
        blueprint.refresh_from_db()
    return blueprint


def applied_run(world, **fields):
    return RunFactory(
        config=world.dev,
        requested_by=world.user(Role.OPERATOR),
        status=fields.pop("status", RunStatus.APPLIED),
        spec=WEB_SPEC,
        request_text="Create 4 m5.large behind ALB in ap-south-1",
        source_sha256=hashlib.sha256(b"rendered source").hexdigest(),
        **fields,
    )


def state_digest() -> str:
    """Everything a refused request must leave untouched."""
    rows = {
        "blueprints": list(Blueprint.objects.order_by("pk").values()),
        "versions": list(BlueprintVersion.objects.order_by("pk").values()),
    }
    return hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()


# --- the library -------------------------------------------------------------------------------------


def slugs(response) -> list[str]:
    return [bp.slug for bp in response.context["blueprints"]]


def test_library_shows_platform_and_own_blueprints_never_another_tenants(own, other, client_as):
    saved(own, name="Acme web")
    saved(other, name="Globex web")
    response = client_as(own.user(Role.VIEWER), own.tenant).get(reverse("blueprint_list"))
    assert response.status_code == 200
    shown = slugs(response)
    assert "acme-web" in shown and "web-tier" in shown  # own and platform (curated)
    assert "globex-web" not in shown
    assert "Globex" not in response.content.decode()


def test_library_search_and_filters(own, client_as):
    saved(own, name="Shop web tier", approve=True)
    saved(own, name="Checkout servers", description="")
    client = client_as(own.user(Role.VIEWER), own.tenant)

    def search(**params):
        return slugs(client.get(reverse("blueprint_list"), params))

    assert search(q="shop") == ["shop-web-tier"]
    assert search(q="storefront alb") == ["shop-web-tier"]  # every word: description, then stack title
    assert set(search(q="alb")) >= {"shop-web-tier", "checkout-servers", "web-tier"}  # via the stack title
    assert search(scope="tenant") == ["checkout-servers", "shop-web-tier"]
    assert search(scope="tenant", status="draft") == ["checkout-servers"]
    assert search(scope="platform", stack="web_tier") == ["web-tier"]
    assert search(scope="platform", q="postgres") == ["data-tier"]
    assert search(q="no-such-thing") == []


def test_bad_filters_are_reported_and_the_valid_ones_still_apply(own, client_as):
    saved(own, name="Shop web tier")
    response = client_as(own.user(Role.VIEWER), own.tenant).get(
        reverse("blueprint_list"), {"q": "shop", "stack": "mainframe", "page": "abc"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["stack"]
    assert slugs(response) == ["shop-web-tier"]
    assert "is-invalid" in response.content.decode()


def test_empty_search_has_a_designed_empty_state(own, client_as):
    response = client_as(own.user(Role.VIEWER), own.tenant).get(reverse("blueprint_list"), {"q": "zzz"})
    assert 'data-testid="blueprint-empty"' in response.content.decode()
    assert "No blueprint matches these filters" in response.content.decode()


def test_htmx_search_returns_only_the_results_partial(own, client_as):
    saved(own, name="Shop web tier")
    response = client_as(own.user(Role.VIEWER), own.tenant).get(
        reverse("blueprint_list"), {"q": "shop"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="blueprint-results"')
    assert "<nav" not in body and "shop-web-tier" in body


def test_library_paginates(own, client_as):
    for number in range(30):
        saved(own, name=f"Fleet {number:02d}", description="")
    client = client_as(own.user(Role.VIEWER), own.tenant)
    first = client.get(reverse("blueprint_list"), {"scope": "tenant"})
    assert len(first.context["blueprints"]) == 25 and first.context["is_paginated"]
    second = client.get(reverse("blueprint_list"), {"scope": "tenant", "page": 2})
    assert slugs(second) == ["fleet-25", "fleet-26", "fleet-27", "fleet-28", "fleet-29"]
    assert "scope=tenant&amp;page=2" in first.content.decode()  # the filters ride along


# --- the detail page ---------------------------------------------------------------------------------


def test_detail_shows_versions_with_sha_and_people_and_the_runs_that_used_it(own, client_as):
    blueprint = saved(own, approve=True)
    version = blueprint.latest_version()
    used = applied_run(own, blueprint_version_id=version.pk)
    agent_used = applied_run(own, belief={"blueprint": {"id": blueprint.pk, "slug": blueprint.slug}})
    unrelated = applied_run(own)
    response = client_as(own.user(Role.VIEWER), own.tenant).get(
        reverse("blueprint_detail", args=[blueprint.pk])
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert version.source_sha256 in body
    assert own.user(Role.OPERATOR).email in body and own.user(Role.APPROVER).email in body
    assert {r.pk for r in response.context["usage"]} == {used.pk, agent_used.pk}
    assert unrelated.pk not in {r.pk for r in response.context["usage"]}
    assert response.context["usage_total"] == 2
    assert "ami_id" not in body  # a platform input, never stored in a blueprint
    assert not response.context["can_approve"] and not response.context["can_use"]


def test_usage_never_lists_another_tenants_runs(own, other, client_as):
    """A platform blueprint is shared; the runs that used it are not."""
    platform = Blueprint.objects.get(tenant=None, slug="web-tier")
    applied_run(other, belief={"blueprint": {"id": platform.pk}})
    mine = applied_run(own, belief={"blueprint": {"id": platform.pk}})
    response = client_as(own.user(Role.ADMIN), own.tenant).get(
        reverse("blueprint_detail", args=[platform.pk])
    )
    assert [r.pk for r in response.context["usage"]] == [mine.pk]


@pytest.mark.parametrize("role", ROLES)
def test_use_links_to_the_console_with_the_approved_version(role, own, client_as):
    blueprint = saved(own, approve=True)
    response = client_as(own.user(role), own.tenant).get(reverse("blueprint_detail", args=[blueprint.pk]))
    assert response.context["can_use"] == role_allows(role, "run.create")
    link = f'{reverse("console")}?blueprint={blueprint.latest_approved_version().pk}"'
    assert (link in response.content.decode()) == role_allows(role, "run.create")


def test_draft_shows_approve_only_to_approvers(own, client_as):
    blueprint = saved(own)
    url = reverse("blueprint_detail", args=[blueprint.pk])
    assert (
        'data-testid="blueprint-approve"'
        not in client_as(own.user(Role.OPERATOR), own.tenant).get(url).content.decode()
    )
    assert (
        'data-testid="blueprint-approve"'
        in client_as(own.user(Role.APPROVER), own.tenant).get(url).content.decode()
    )


# --- approving -----------------------------------------------------------------------------------------


def test_approve_a_version_audits_and_makes_it_reusable(own, client_as):
    blueprint = saved(own)
    version = blueprint.latest_version()
    approver = own.user(Role.APPROVER)
    response = client_as(approver, own.tenant).post(
        reverse("blueprint_version_approve", args=[blueprint.pk, version.pk]), follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("blueprint_detail", args=[blueprint.pk])
    assert "Approved Shop web tier version 1" in response.content.decode()
    version.refresh_from_db()
    blueprint.refresh_from_db()
    assert version.approved_by == approver and blueprint.status == BlueprintStatus.APPROVED
    event = AuditEvent.objects.filter(tenant=own.tenant, action="blueprint.approved").get()
    assert event.actor == approver and event.data["sha256"] == version.source_sha256


def test_approving_twice_is_a_clear_message_not_a_change(own, client_as):
    blueprint = saved(own, approve=True)
    version = blueprint.latest_version()
    before = state_digest()
    response = client_as(own.user(Role.ADMIN), own.tenant).post(
        reverse("blueprint_version_approve", args=[blueprint.pk, version.pk]), follow=True
    )
    assert "already approved" in response.content.decode()
    assert state_digest() == before


def test_self_approval_is_refused_when_the_tenant_forbids_it(own, client_as):
    own.tenant.forbid_self_approval = True
    own.tenant.save()
    author = own.user(Role.APPROVER)
    blueprint = blueprint_create_from_spec(tenant=own.tenant, user=author, spec=WEB_SPEC, name="Mine")
    before = state_digest()
    response = client_as(author, own.tenant).post(
        reverse("blueprint_version_approve", args=[blueprint.pk, blueprint.latest_version().pk]), follow=True
    )
    assert "cannot approve a blueprint version you created" in response.content.decode()
    assert state_digest() == before


def test_a_version_of_another_blueprint_is_not_found(own, client_as):
    first, second = saved(own, name="One"), saved(own, name="Two")
    before = state_digest()
    response = client_as(own.user(Role.ADMIN), own.tenant).post(
        reverse("blueprint_version_approve", args=[first.pk, second.latest_version().pk])
    )
    assert response.status_code == 404 and state_digest() == before


def test_platform_blueprints_are_approved_only_by_platform_staff(own, client_as):
    platform = Blueprint.objects.get(tenant=None, slug="web-tier")
    version = platform.latest_version()
    response = client_as(own.user(Role.ADMIN), own.tenant).post(
        reverse("blueprint_version_approve", args=[platform.pk, version.pk])
    )
    assert response.status_code == 403


# --- save as blueprint -------------------------------------------------------------------------------


def test_save_form_previews_the_portable_spec(own, client_as):
    run = applied_run(own)
    response = client_as(own.user(Role.OPERATOR), own.tenant).get(
        reverse("blueprint_save_from_run", args=[run.pk])
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["portable"]["parameters"] == {"instance_type": "m5.large", "instance_count": 4}
    assert "gantry:tenant" not in body and "shop-web" not in body.split("What the blueprint keeps")[1]
    assert response.context["form"].initial["name"] == f"Web tier from run #{run.pk}"


def test_save_from_an_applied_run_creates_a_draft_and_opens_it(own, client_as):
    run = applied_run(own)
    response = client_as(own.user(Role.OPERATOR), own.tenant).post(
        reverse("blueprint_save_from_run", args=[run.pk]), {"name": "Shop fleet", "description": "4 x m5"}
    )
    blueprint = Blueprint.objects.get(tenant=own.tenant, name="Shop fleet")
    assert response.status_code == 302 and response["Location"] == reverse(
        "blueprint_detail", args=[blueprint.pk]
    )
    assert blueprint.status == BlueprintStatus.DRAFT and blueprint.source_run_id == run.pk
    assert blueprint.latest_version().spec["parameters"] == {"instance_type": "m5.large", "instance_count": 4}
    assert AuditEvent.objects.filter(tenant=own.tenant, action="blueprint.created").exists()


@pytest.mark.parametrize("status", [RunStatus.AWAITING_APPROVAL, RunStatus.FAILED])
def test_only_applied_runs_can_be_saved(status, own, client_as):
    run = applied_run(own, status=status)
    before = state_digest()
    response = client_as(own.user(Role.OPERATOR), own.tenant).post(
        reverse("blueprint_save_from_run", args=[run.pk]), {"name": "Too early"}
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert response.context["form"]["name"].value() == "Too early"  # nothing typed is lost
    assert state_digest() == before


def test_blank_name_is_a_form_error(own, client_as):
    run = applied_run(own)
    before = state_digest()
    response = client_as(own.user(Role.OPERATOR), own.tenant).post(
        reverse("blueprint_save_from_run", args=[run.pk]), {"name": "   ", "description": "kept"}
    )
    assert response.status_code == 200 and response.context["form"].errors["name"]
    assert "kept" in response.content.decode()
    assert state_digest() == before


# --- the permission matrix -----------------------------------------------------------------------------

# (url name, method, target builder, least action, POST data)
PAGES = [
    ("blueprint_list", "get", None, "view", None),
    ("blueprint_detail", "get", lambda w: [saved(w).pk], "view", None),
    ("blueprint_version_approve", "post", lambda w: [(b := saved(w)).pk, b.latest_version().pk], "blueprint.approve", {}),
    ("blueprint_save_from_run", "get", lambda w: [applied_run(w).pk], "blueprint.create", None),
    ("blueprint_save_from_run", "post", lambda w: [applied_run(w).pk], "blueprint.create", {"name": "Fleet"}),
]  # fmt: skip


def page_id(page):
    return f"{page[1]}:{page[0]}"


def call(client, method, url, data):
    return client.post(url, data) if method == "post" else client.get(url)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_own_tenant_follows_the_role_table(page, role, own, client_as):
    name, method, target, action, data = page
    url = reverse(name, args=target(own) if target else [])
    client = client_as(own.user(role), own.tenant, own.dev)
    before = state_digest()
    response = call(client, method, url, data)
    if role_allows(role, action):
        assert response.status_code in (200, 302), response.content[:500]
        if method == "post":
            assert state_digest() != before
    else:
        assert response.status_code == 403
        assert state_digest() == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", [p for p in PAGES if p[2]], ids=page_id)
def test_other_tenant_ids_are_not_found_and_change_nothing(page, role, own, other, client_as):
    name, method, target, _action, data = page
    url = reverse(name, args=target(other))
    client = client_as(own.user(role), own.tenant, own.dev)
    before, audit_before = state_digest(), AuditEvent.objects.count()
    response = call(client, method, url, data)
    assert response.status_code == 404
    assert state_digest() == before
    assert AuditEvent.objects.count() == audit_before


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_anonymous_is_sent_to_sign_in(page, own, client):
    name, method, target, _action, data = page
    url = reverse(name, args=target(own) if target else [])
    before = state_digest()
    response = call(client, method, url, data)
    assert response.status_code == 302 and reverse("account_login") in response["Location"]
    assert state_digest() == before


def test_member_of_both_tenants_reaches_only_the_active_ones_blueprints(own, other, client_as):
    user = own.user(Role.ADMIN)
    Membership.objects.create(tenant=other.tenant, user=user, role=Role.ADMIN)
    theirs = saved(other, name="Globex web")
    client = client_as(user, own.tenant, own.dev)
    assert client.get(reverse("blueprint_detail", args=[theirs.pk])).status_code == 404
    assert "globex-web" not in slugs(client.get(reverse("blueprint_list")))
    client.post(reverse("context_switch"), {"tenant": other.tenant.pk})
    assert client.get(reverse("blueprint_detail", args=[theirs.pk])).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_platform_blueprints_are_readable_by_every_member_of_any_tenant(role, own, other, client_as):
    platform = Blueprint.objects.get(tenant=None, slug="data-tier")
    for world in (own, other):
        client = client_as(world.user(role), world.tenant, world.dev)
        response = client.get(reverse("blueprint_detail", args=[platform.pk]))
        assert response.status_code == 200
        assert response.context["can_approve"] is False  # platform rows change only by platform staff


@pytest.mark.parametrize("role", ROLES)
def test_an_applied_runs_page_offers_save_as_blueprint_to_those_who_may(role, own, client_as):
    applied, planned = applied_run(own), applied_run(own, status=RunStatus.AWAITING_APPROVAL)
    client = client_as(own.user(role), own.tenant, own.dev)
    link = reverse("blueprint_save_from_run", args=[applied.pk])
    assert (link in client.get(reverse("run_detail", args=[applied.pk])).content.decode()) == role_allows(
        role, "blueprint.create"
    )
    assert "save-as-blueprint" not in client.get(reverse("run_detail", args=[planned.pk])).content.decode()
