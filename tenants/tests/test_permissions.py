"""The permission matrix: every tenant page × every role × own or other tenant.

Own tenant: the role's least action decides (200/302 allowed, 403 refused). Another tenant's ids: 404 for
every role. Whenever access is refused, nothing in the database changes.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.urls import reverse

from runs.models import AuditEvent
from tenants.models import AwsAccount, Config, Invitation, Membership, Tenant
from tenants.roles import Role, role_allows
from tenants.services import invitation_create

ROLES = [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN]


def state_digest() -> str:
    """Everything a refused request must leave untouched (audit rows excluded: reads may be audited later)."""
    rows = {
        "tenants": list(Tenant.objects.order_by("pk").values()),
        "memberships": list(Membership.objects.order_by("pk").values()),
        "invitations": list(Invitation.objects.order_by("pk").values()),
        "accounts": list(AwsAccount.objects.order_by("pk").values()),
        "configs": list(Config.objects.order_by("pk").values()),
    }
    return hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()


def account_post(world):
    return {
        "name": "renamed",
        "account_id": world.account.account_id,
        "mode": "sandbox",
        "default_region": "ap-south-1",
        "allowed_regions": "ap-south-1",
        "budget_currency": "INR",
        "kms_preference": "customer_managed",
    }


def config_post(world):
    return {
        "name": "dev2",
        "account": world.account.pk,
        "env": "dev",
        "workspace": "dev-two",
        "default_tags": "Owner=x",
    }


# (url name, method, which object's pk (or None), action, POST data builder)
PAGES = [
    ("dashboard", "get", None, "view", None),
    ("account_list_aws", "get", None, "view", None),
    ("aws_account_detail", "get", "account", "view", None),
    ("aws_account_create", "get", None, "account.manage", None),
    ("aws_account_create", "post", None, "account.manage", lambda w: {**account_post(w), "name": "new"}),
    ("aws_account_edit", "get", "account", "account.manage", None),
    ("aws_account_edit", "post", "account", "account.manage", account_post),
    ("aws_account_delete", "get", "account", "account.manage", None),
    ("aws_account_delete", "post", "account", "account.manage", lambda w: {}),
    ("aws_account_verify", "post", "account", "account.manage", lambda w: {}),
    ("config_list", "get", None, "view", None),
    ("config_detail", "get", "dev", "view", None),
    ("config_create", "get", None, "config.manage", None),
    ("config_create", "post", None, "config.manage", config_post),
    ("config_edit", "get", "dev", "config.manage", None),
    ("config_edit", "post", "dev", "config.manage", lambda w: {**config_post(w), "name": "dev"}),
    ("config_delete", "get", "prod", "config.manage", None),
    ("config_delete", "post", "prod", "config.manage", lambda w: {}),
    (
        "config_grant",
        "post",
        "prod",
        "config.manage",
        lambda w: {"user": w.user(Role.OPERATOR).pk, "granted": "on"},
    ),
    ("member_list", "get", None, "view", None),
    ("member_role", "post", "viewer_membership", "member.manage", lambda w: {"role": "operator"}),
    ("member_remove", "post", "viewer_membership", "member.manage", lambda w: {}),
    ("invitation_list", "get", None, "member.manage", None),
    ("invitation_list", "post", None, "member.manage", lambda w: {"role": "viewer", "days": 7}),
    ("invitation_revoke", "post", "invitation", "member.manage", lambda w: {}),
    ("tenant_settings", "get", None, "tenant.manage", None),
    (
        "tenant_settings",
        "post",
        None,
        "tenant.manage",
        lambda w: {"name": "Renamed", "forbid_self_approval": "on"},
    ),
]


def target_pk(world, which: str) -> int:
    if which == "viewer_membership":
        return world.members[Role.VIEWER].pk
    if which == "invitation":
        invitation, _ = invitation_create(actor_membership=world.members[Role.ADMIN], role="viewer")
        return invitation.pk
    return getattr(world, which).pk


def request(client, method, url, data):
    return client.post(url, data or {}) if method == "post" else client.get(url)


def page_id(page):
    return f"{page[1]}:{page[0]}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_own_tenant_follows_role_table(page, role, own, client_as):
    name, method, which, action, data = page
    pk = target_pk(own, which) if which else None
    url = reverse(name, args=[pk] if pk else [])
    client = client_as(own.user(role), own.tenant, own.dev)
    before = state_digest()
    response = request(client, method, url, data(own) if data else None)
    if role_allows(role, action):
        assert response.status_code in (200, 302), response.content[:500]
    else:
        assert response.status_code == 403
        assert state_digest() == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", [p for p in PAGES if p[2]], ids=page_id)
def test_other_tenant_ids_are_not_found_and_change_nothing(page, role, own, other, client_as):
    name, method, which, _action, data = page
    url = reverse(name, args=[target_pk(other, which)])
    client = client_as(own.user(role), own.tenant, own.dev)
    before, audit_before = state_digest(), AuditEvent.objects.filter(tenant=other.tenant).count()
    response = request(client, method, url, data(other) if data else None)
    assert response.status_code == 404
    assert state_digest() == before
    assert AuditEvent.objects.filter(tenant=other.tenant).count() == audit_before


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_anonymous_is_sent_to_sign_in(page, own, client):
    name, method, which, _action, data = page
    pk = target_pk(own, which) if which else None
    before = state_digest()
    response = request(client, method, reverse(name, args=[pk] if pk else []), data(own) if data else None)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]
    assert state_digest() == before


def test_member_of_both_tenants_only_reaches_the_active_one(own, other, client_as):
    """Membership elsewhere does not open that tenant's ids while another tenant is active."""
    user = own.user(Role.ADMIN)
    Membership.objects.create(tenant=other.tenant, user=user, role=Role.ADMIN)
    client = client_as(user, own.tenant, own.dev)
    assert client.get(reverse("aws_account_detail", args=[other.account.pk])).status_code == 404
    client.post(reverse("context_switch"), {"tenant": other.tenant.pk})
    assert client.get(reverse("aws_account_detail", args=[other.account.pk])).status_code == 200


def test_viewer_picks_among_the_configs_they_may_read_and_nothing_of_another_tenant(own, other, client_as):
    viewer = own.user("viewer")
    client = client_as(viewer)
    page = client.get(reverse("dashboard")).content.decode()
    assert "No usable config" not in page and f'value="{own.prod.pk}"' in page
    assert f'value="{other.prod.pk}"' not in page
    client.post(reverse("context_switch"), {"tenant": own.tenant.pk, "config": own.prod.pk})
    assert client.session["gantry_config_id"] == own.prod.pk
    client.post(reverse("context_switch"), {"tenant": own.tenant.pk, "config": other.prod.pk})
    assert client.session["gantry_config_id"] == own.prod.pk  # refused: the choice stands
