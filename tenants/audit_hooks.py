"""Sign-in, sign-out and MFA events from Django and allauth become audit events. Recording only."""

from __future__ import annotations

from allauth.account.signals import user_logged_in
from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.dispatch import receiver

from runs.audit import audit_record, audit_record_for_user_tenants


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs):
    audit_record_for_user_tenants(user=user, action="auth.signed_in", summary=f"{user.email} signed in")


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record_for_user_tenants(user=user, action="auth.signed_out", summary=f"{user.email} signed out")


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    email = (credentials.get("email") or credentials.get("username") or "")[:254]
    user = get_user_model().objects.filter(email__iexact=email).first() if email else None
    if user is not None:
        audit_record_for_user_tenants(
            user=user, action="auth.sign_in_failed", summary=f"Failed sign-in for {email}"
        )
    else:
        audit_record(
            tenant=None, action="auth.sign_in_failed", summary="Failed sign-in for an unknown address"
        )


def _mfa_event(action: str):
    def handler(sender, request, user, authenticator, **kwargs):
        audit_record_for_user_tenants(
            user=user,
            action=action,
            summary=f"{user.email}: {authenticator.type}",
            data={"type": authenticator.type},
        )

    return handler


authenticator_added.connect(_mfa_event("mfa.authenticator_added"), weak=False)
authenticator_removed.connect(_mfa_event("mfa.authenticator_removed"), weak=False)
authenticator_reset.connect(_mfa_event("mfa.authenticator_reset"), weak=False)
