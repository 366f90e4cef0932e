"""The tenant rule "MFA required for approvers and admins"."""

from __future__ import annotations

from allauth.mfa.models import Authenticator

from .models import Membership
from .roles import Role

PRIVILEGED = (Role.APPROVER, Role.ADMIN)


def mfa_required(user) -> bool:
    return Membership.objects.filter(
        user=user, role__in=PRIVILEGED, tenant__is_active=True, tenant__mfa_required_for_privileged=True
    ).exists()


def has_totp(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def mfa_setup_required(user) -> bool:
    return mfa_required(user) and not has_totp(user)
