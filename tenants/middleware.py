"""Attach the active tenant/config to each request, and hold privileged users to the tenant's MFA rule."""

from __future__ import annotations

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from . import context
from .mfa import mfa_setup_required


class ActiveTenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.gantry = SimpleLazyObject(lambda: context.resolve(request))
        return self.get_response(request)


# Paths a user who still has to set up MFA may reach: allauth (incl. MFA setup), sign-out and assets.
MFA_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz")


class MfaRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.user.is_authenticated
            and not request.path.startswith(MFA_EXEMPT_PREFIXES)
            and mfa_setup_required(request.user)
        ):
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
