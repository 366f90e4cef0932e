from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from runs.models import AuditEvent
from tenants.models import Invitation, Membership
from tenants.roles import Role
from tenants.services import invitation_accept, invitation_create, invitation_revoke
from tenants.tests.factories import UserFactory


def make(world, **kwargs):
    return invitation_create(
        actor_membership=world.members[Role.ADMIN], role=kwargs.pop("role", "operator"), **kwargs
    )


def test_code_is_stored_hashed_and_accepting_creates_the_membership(own):
    invitation, code = make(own)
    assert code not in invitation.code_hash and invitation.code_hint == code[-4:]
    newcomer = UserFactory()
    membership = invitation_accept(code=code, user=newcomer)
    assert membership.tenant == own.tenant and membership.role == Role.OPERATOR
    invitation.refresh_from_db()
    assert invitation.status == "accepted" and invitation.accepted_by == newcomer
    assert AuditEvent.objects.filter(tenant=own.tenant, action="invitation.accepted").exists()


def test_single_use(own):
    _, code = make(own)
    invitation_accept(code=code, user=UserFactory())
    with pytest.raises(ValidationError, match="accepted"):
        invitation_accept(code=code, user=UserFactory())
    assert Membership.objects.filter(tenant=own.tenant).count() == 5


def test_expired_invitation_is_refused(own):
    invitation, code = make(own)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="expired"):
        invitation_accept(code=code, user=UserFactory())


def test_revoked_invitation_is_refused(own):
    invitation, code = make(own)
    invitation_revoke(actor_membership=own.members[Role.ADMIN], invitation_id=invitation.pk)
    with pytest.raises(ValidationError, match="revoked"):
        invitation_accept(code=code, user=UserFactory())


def test_invitation_for_another_address_is_refused(own):
    _, code = make(own, email="someone@acme.test")
    with pytest.raises(ValidationError, match="another email"):
        invitation_accept(code=code, user=UserFactory(email="intruder@evil.test"))


def test_unknown_code_is_refused(own):
    with pytest.raises(ValidationError, match="not valid"):
        invitation_accept(code="nope", user=UserFactory())


def test_invitation_joins_its_own_tenant_only(own, other):
    """A code from another tenant joins that tenant; it never grants access to the inviter's peers."""
    _, code = make(other, role="viewer")
    user = own.user(Role.OPERATOR)
    membership = invitation_accept(code=code, user=user)
    assert membership.tenant == other.tenant and membership.role == Role.VIEWER
    assert Membership.objects.get(tenant=own.tenant, user=user).role == Role.OPERATOR


def test_existing_member_cannot_join_twice(own):
    _, code = make(own)
    with pytest.raises(ValidationError, match="already a member"):
        invitation_accept(code=code, user=own.user(Role.VIEWER))
    assert Invitation.objects.get().status == "pending"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.APPROVER])
def test_only_admins_invite(own, role):
    with pytest.raises(PermissionDenied):
        invitation_create(actor_membership=own.members[role], role="admin")
    assert not Invitation.objects.exists()


def test_revoke_in_another_tenant_is_not_found(own, other):
    invitation, _ = make(other)
    with pytest.raises(Invitation.DoesNotExist):
        invitation_revoke(actor_membership=own.members[Role.ADMIN], invitation_id=invitation.pk)
    invitation.refresh_from_db()
    assert invitation.status == "pending"
