"""Settings → API tokens: every member manages their own tokens in the active tenant; the value is shown
once; admins see and may revoke every member's; other tenants' tokens are not found."""

from __future__ import annotations

import pytest

from runs.models import AuditEvent
from tenants.models import ApiToken, hash_token
from tenants.roles import Role
from tenants.tokens import token_create

pytestmark = pytest.mark.django_db
ROLES = [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN]


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/settings/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("role", ROLES)
def test_every_member_creates_a_token_shown_once(own, client_as, role):
    client = client_as(own.user(role), own.tenant)
    assert client.get("/settings/tokens/").status_code == 200
    response = client.post("/settings/tokens/", {"name": "ci", "role": role, "expires_in_days": "30"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = response.context["new_raw"]
    token = ApiToken.objects.get(user=own.user(role), tenant=own.tenant)
    assert token.token_hash == hash_token(raw) and token.role == role and token.expires_at
    assert raw in response.content.decode()
    assert raw not in client.get("/settings/tokens/").content.decode()  # never again


def test_role_above_membership_is_refused(own, client_as):
    client = client_as(own.user(Role.OPERATOR), own.tenant)
    response = client.post("/settings/tokens/", {"name": "ci", "role": Role.ADMIN, "expires_in_days": ""})
    assert response.status_code == 200 and response.context["form"].errors["role"]
    assert not ApiToken.objects.exists()


def test_list_shows_own_tokens_and_admin_sees_all(own, client_as):
    mine, _ = token_create(user=own.user(Role.VIEWER), tenant=own.tenant, name="viewer-ci", role=Role.VIEWER)
    theirs, _ = token_create(
        user=own.user(Role.OPERATOR), tenant=own.tenant, name="operator-ci", role=Role.VIEWER
    )
    viewer_page = client_as(own.user(Role.VIEWER), own.tenant).get("/settings/tokens/")
    assert list(viewer_page.context["tokens"]) == [mine]
    admin_page = client_as(own.user(Role.ADMIN), own.tenant).get("/settings/tokens/")
    assert {t.pk for t in admin_page.context["tokens"]} == {mine.pk, theirs.pk}


@pytest.mark.parametrize("role", ROLES)
def test_revoke_matrix(own, other, client_as, role):
    own_token, _ = token_create(user=own.user(Role.OPERATOR), tenant=own.tenant, name="a", role=Role.VIEWER)
    other_token, _ = token_create(
        user=other.user(Role.OPERATOR), tenant=other.tenant, name="b", role=Role.VIEWER
    )
    client = client_as(own.user(role), own.tenant)

    response = client.post(f"/settings/tokens/{other_token.pk}/revoke/")
    assert response.status_code == 404
    other_token.refresh_from_db()
    assert other_token.revoked_at is None

    response = client.post(f"/settings/tokens/{own_token.pk}/revoke/")
    own_token.refresh_from_db()
    if role in (Role.OPERATOR, Role.ADMIN):  # the owner, or an admin of the tenant
        assert response.status_code == 302 and own_token.revoked_at is not None
        assert AuditEvent.objects.filter(action="token.revoked", actor=own.user(role)).exists()
    else:
        assert response.status_code == 404 and own_token.revoked_at is None
        assert not AuditEvent.objects.filter(action="token.revoked").exists()


def test_revoke_is_post_only(own, client_as):
    token, _ = token_create(user=own.user(Role.VIEWER), tenant=own.tenant, name="a", role=Role.VIEWER)
    assert (
        client_as(own.user(Role.VIEWER), own.tenant).get(f"/settings/tokens/{token.pk}/revoke/").status_code
        == 405
    )
    token.refresh_from_db()
    assert token.revoked_at is None
