"""Base view mixins: every portal view works inside the active tenant, and reads only through for_user().

Ids from another tenant are not found (404); a role too low for a write on your own tenant's object is
refused (403), and nothing changes in either case.
"""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect

from tenants.services import require


class TenantMixin(LoginRequiredMixin):
    """Needs a signed-in user with an active tenant; `action` is the least the role must allow."""

    action = "view"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if request.gantry.membership is None:
            return redirect("tenant_choose")
        self.authorize()
        return super().dispatch(request, *args, **kwargs)

    def authorize(self) -> None:
        require(self.membership, self.action)

    @property
    def membership(self):
        return self.request.gantry.membership

    @property
    def tenant(self):
        return self.request.gantry.tenant

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["role"] = self.membership.role
        return context


class ScopedObjectMixin(TenantMixin):
    """Object views: the object is looked up among what the user may see in the active tenant (else 404);
    then the role is checked against `action` (else 403)."""

    read_action = "view"

    def authorize(self) -> None:
        """Deferred to get_object, so another tenant's id is a 404 before any role check."""

    def get_queryset(self):
        return self.model.objects.for_user(self.request.user, self.read_action).filter(tenant=self.tenant)

    def get_object(self, queryset=None):
        obj = super().get_object(queryset)
        require(self.membership, self.action)
        return obj
