"""Settings → API tokens: list your tokens in the active tenant, create one (its value shown once),
revoke one. Admins also see, and may revoke, every member's tokens of the tenant."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.views import View
from django.views.generic import FormView

from portal.mixins import TenantMixin

from .roles import RANK, Role
from .tokens import token_create, token_revoke, token_status, tokens_visible

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. ci-pipeline.")
    role = forms.ChoiceField(help_text="Never above your own role; your role is re-checked at every use.")
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="90", label="Expires")

    def __init__(self, *args, member_role: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [
            (role.value, role.label) for role in Role if RANK[role] <= RANK[Role(member_role)]
        ]
        self.fields["role"].initial = Role.VIEWER

    def expires_at(self):
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=int(days)) if days else None


class TokenListView(TenantMixin, FormView):
    template_name = "tenants/token_list.html"

    def get_form(self, form_class=None):
        return TokenForm(**self.get_form_kwargs(), member_role=self.membership.role)

    def get_context_data(self, **kwargs):
        tokens = list(tokens_visible(self.request.user, self.tenant))
        now = timezone.now()
        for token in tokens:
            token.status = token_status(token, now)
        return super().get_context_data(tokens=tokens, **kwargs)

    def form_valid(self, form):
        try:
            token, raw = token_create(
                user=self.request.user,
                tenant=self.tenant,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                expires_at=form.expires_at(),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.form_invalid(form)
        # Rendered, not redirected: the raw value exists only in this response.
        context = self.get_context_data(form=self.blank_form(), new_token=token, new_raw=raw)
        response = self.render_to_response(context)
        response["Cache-Control"] = "no-store"
        return response

    def blank_form(self) -> TokenForm:
        return TokenForm(member_role=self.membership.role)


class TokenRevokeView(TenantMixin, View):
    """POST only. A token the user may not see in the active tenant is a 404, whatever its id."""

    def post(self, request, pk: int):
        token = tokens_visible(request.user, self.tenant).filter(pk=pk).first()
        if token is None:
            raise Http404("No such token.")
        try:
            token_revoke(user=request.user, token_id=token.pk)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, f"Revoked {token.name} ({token.prefix}…). It stops working immediately."
            )
        return redirect("token_list")
