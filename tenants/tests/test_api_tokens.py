"""Personal access tokens: creation (shown once, hashed, role-capped), authentication and its refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from runs.models import AuditEvent
from tenants.models import ApiToken, Membership, hash_token
from tenants.roles import Role
from tenants.tokens import TokenInvalid, token_authenticate, token_create, token_revoke

pytestmark = pytest.mark.django_db


def test_create_stores_only_the_hash_and_audits(own):
    user = own.user("operator")
    token, raw = token_create(user=user, tenant=own.tenant, name="ci", role=Role.OPERATOR)
    assert raw.startswith("gty_") and len(raw) > 30
    assert token.token_hash == hash_token(raw) and raw not in token.token_hash
    assert raw.startswith(token.prefix) and len(token.prefix) == 12
    event = AuditEvent.objects.get(action="token.created")
    assert event.tenant == own.tenant and event.actor == user and raw not in str(event.data)


def test_role_is_capped_at_membership(own):
    with pytest.raises(ValidationError) as err:
        token_create(user=own.user("operator"), tenant=own.tenant, name="x", role=Role.ADMIN)
    assert "role" in err.value.message_dict
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    "fields, key",
    [
        ({"name": "  "}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"role": "root"}, "role"),
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "expires_at"),
    ],
)
def test_bad_input_is_refused_with_the_field(own, fields, key):
    args = {"name": "ci", "role": Role.VIEWER, **fields}
    with pytest.raises(ValidationError) as err:
        token_create(user=own.user("viewer"), tenant=own.tenant, **args)
    assert key in err.value.message_dict
    assert not ApiToken.objects.exists()


def test_no_token_for_a_tenant_you_are_not_in(own, other):
    with pytest.raises(PermissionDenied):
        token_create(user=own.user("admin"), tenant=other.tenant, name="x", role=Role.VIEWER)
    assert not ApiToken.objects.exists()


def test_authenticate_resolves_identity_and_touches_last_used(own):
    user = own.user("approver")
    token, raw = token_create(user=user, tenant=own.tenant, name="ci", role=Role.OPERATOR)
    identity = token_authenticate(raw)
    assert (identity.user, identity.tenant, identity.role) == (user, own.tenant, Role.OPERATOR)
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    token_authenticate(f"  {raw}\n")  # within a minute: no second write
    token.refresh_from_db()
    assert token.last_used_at == first_use


def test_authenticate_is_one_query_once_last_used_is_fresh(own, other, django_assert_num_queries):
    member = own.members[Role.OPERATOR]
    Membership.objects.create(user=member.user, tenant=other.tenant, role=Role.ADMIN)  # must not leak in
    _, raw = token_create(user=member.user, tenant=own.tenant, name="ci", role=Role.OPERATOR)
    Membership.objects.filter(pk=member.pk).update(role=Role.VIEWER)
    with django_assert_num_queries(2):  # the lookup, and the first use's last_used_at write
        token_authenticate(raw)
    with django_assert_num_queries(1):  # token, owner, tenant and the owner's role there, together
        identity = token_authenticate(raw)
    assert (identity.tenant, identity.role) == (own.tenant, Role.VIEWER)  # capped by *this* membership


def test_effective_role_follows_a_demotion(own):
    member = own.members[Role.ADMIN]
    _, raw = token_create(user=member.user, tenant=own.tenant, name="ci", role=Role.ADMIN)
    Membership.objects.filter(pk=member.pk).update(role=Role.VIEWER)
    assert token_authenticate(raw).role == Role.VIEWER


@pytest.mark.parametrize("raw", ["", "Bearer x", "gty_unknown", "ghp_abcdef"])
def test_unknown_tokens_are_refused(own, raw):
    with pytest.raises(TokenInvalid):
        token_authenticate(raw)


def test_revoked_expired_and_lost_membership_are_refused(own):
    user = own.user("operator")
    revoked, raw_revoked = token_create(user=user, tenant=own.tenant, name="a", role=Role.VIEWER)
    token_revoke(user=user, token_id=revoked.pk)
    with pytest.raises(TokenInvalid, match="revoked"):
        token_authenticate(raw_revoked)

    expired, raw_expired = token_create(
        user=user,
        tenant=own.tenant,
        name="b",
        role=Role.VIEWER,
        expires_at=timezone.now() + timedelta(days=1),
    )
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(TokenInvalid, match="expired"):
        token_authenticate(raw_expired)

    _, raw_member = token_create(user=user, tenant=own.tenant, name="c", role=Role.VIEWER)
    Membership.objects.filter(user=user, tenant=own.tenant).delete()
    with pytest.raises(TokenInvalid, match="no longer a member"):
        token_authenticate(raw_member)


def test_revoke_by_owner_or_admin_only(own, other):
    token, _ = token_create(user=own.user("operator"), tenant=own.tenant, name="a", role=Role.VIEWER)
    for outsider in (own.user("approver"), other.user("admin")):
        with pytest.raises(ApiToken.DoesNotExist):
            token_revoke(user=outsider, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is None
    token_revoke(user=own.user("admin"), token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoked", actor=own.user("admin")).count() == 1
    with pytest.raises(ValidationError):
        token_revoke(user=own.user("operator"), token_id=token.pk)
