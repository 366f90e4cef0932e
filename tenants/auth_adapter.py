from allauth.account.adapter import DefaultAccountAdapter
from django.urls import reverse

from .mfa import mfa_setup_required


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request):
        """Privileged members of a tenant that requires MFA go straight to authenticator set-up."""
        if mfa_setup_required(request.user):
            return reverse("mfa_activate_totp")
        return super().get_login_redirect_url(request)
