"""Pages for choosing a tenant, AWS accounts, configs, members and invitations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import DetailView, FormView, ListView, TemplateView, UpdateView

from portal.mixins import ScopedObjectMixin, TenantMixin

from . import context, forms, selectors, services
from .models import AwsAccount, Config, Invitation, Membership
from .tasks import account_verify


def _form_errors(form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form, field by field where it names fields."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- tenant choice and context switching -----------------------------------------------------------


class TenantChooseView(LoginRequiredMixin, TemplateView):
    """Shown after sign-in when a user belongs to several tenants (or none yet)."""

    template_name = "tenants/choose.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            memberships=selectors.memberships_of(self.request.user),
            create_form=forms.CreateTenantForm(),
            join_form=forms.JoinTenantForm(),
            **kwargs,
        )


class TenantCreateView(LoginRequiredMixin, View):
    def post(self, request):
        form = forms.CreateTenantForm(request.POST)
        if not form.is_valid():
            messages.error(request, "A tenant needs a name.")
            return redirect("tenant_choose")
        tenant = services.tenant_create(name=form.cleaned_data["name"], owner=request.user)
        context.switch(request, tenant_id=tenant.pk, config_id=None)
        messages.success(request, f"Created {tenant}. Add an AWS account and a config next.")
        return redirect("account_list_aws")


class TenantJoinView(LoginRequiredMixin, View):
    def post(self, request):
        form = forms.JoinTenantForm(request.POST)
        if form.is_valid():
            try:
                membership = services.invitation_accept(
                    code=form.cleaned_data["invitation_code"], user=request.user
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                context.switch(request, tenant_id=membership.tenant_id, config_id=None)
                messages.success(request, f"You joined {membership.tenant} as {membership.role}.")
                return redirect("dashboard")
        return redirect("tenant_choose")


class ContextSwitchView(LoginRequiredMixin, View):
    """The header's tenant/config picker posts here; plain form posts work without JavaScript."""

    def post(self, request):
        form = forms.ContextSwitchForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a tenant or config.")
            return redirect("dashboard")
        tenant_id, config_id = form.cleaned_data["tenant"], form.cleaned_data["config"]
        if tenant_id and tenant_id != request.session.get(context.SESSION_TENANT):
            config_id = None  # a config belongs to one tenant; the new tenant's default applies
        try:
            ctx = context.switch(request, tenant_id=tenant_id, config_id=config_id)
        except PermissionDenied as exc:
            messages.error(request, str(exc))
            return redirect("dashboard")
        if config_id is None and ctx.config:
            request.session[context.SESSION_CONFIG] = ctx.config.pk
        target = form.cleaned_data["next"]
        if not target or not url_has_allowed_host_and_scheme(
            target, {request.get_host()}, request.is_secure()
        ):
            target = reverse("dashboard")
        return redirect(target)


# --- AWS accounts ----------------------------------------------------------------------------------


class AccountListView(TenantMixin, ListView):
    template_name = "tenants/account_list.html"
    context_object_name = "accounts"

    def get_queryset(self):
        return selectors.visible_accounts(self.request.user, self.tenant)


class AccountDetailView(ScopedObjectMixin, DetailView):
    model = AwsAccount
    template_name = "tenants/account_detail.html"
    context_object_name = "account"

    def get_context_data(self, **kwargs):
        configs = selectors.visible_configs(self.request.user, self.tenant).filter(account=self.object)
        return super().get_context_data(configs=configs, **kwargs)


class ServiceFormMixin:
    """Create/edit pages whose save goes through a service; its ValidationErrors land on the form."""

    template_name = "tenants/object_form.html"
    title = ""

    def get_context_data(self, **kwargs):
        obj = getattr(self, "object", None)
        title = self.title or (f"Edit {obj}" if obj else "")
        cancel = obj_url(obj) if obj else reverse(self.list_url_name)
        return super().get_context_data(title=title, cancel_url=cancel, **kwargs)

    def form_valid(self, form):
        try:
            with transaction.atomic():
                obj = self.save(form)
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Saved {obj}.")
        return redirect(obj_url(obj))


def obj_url(obj) -> str:
    name = {"awsaccount": "aws_account_detail", "config": "config_detail"}[obj._meta.model_name]
    return reverse(name, args=[obj.pk])


class AccountCreateView(TenantMixin, ServiceFormMixin, FormView):
    action = "account.manage"
    form_class = forms.AwsAccountForm
    title = "Add AWS account"
    list_url_name = "account_list_aws"

    def save(self, form):
        return services.account_create(actor_membership=self.membership, **form.cleaned_data)


class AccountUpdateView(ScopedObjectMixin, ServiceFormMixin, UpdateView):
    model = AwsAccount
    action = "account.manage"
    form_class = forms.AwsAccountForm
    list_url_name = "account_list_aws"

    def save(self, form):
        return services.account_update(
            actor_membership=self.membership, account_pk=self.object.pk, **form.cleaned_data
        )


class ObjectDeleteView(ScopedObjectMixin, DetailView):
    """GET asks for confirmation, POST deletes through the service."""

    template_name = "tenants/confirm_delete.html"
    context_object_name = "object"

    def post(self, request, *args, **kwargs):
        obj = self.get_object()
        try:
            self.delete(obj)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(obj_url(obj))
        messages.success(request, f"Deleted {obj}.")
        return redirect(self.success_url_name)


class AccountDeleteView(ObjectDeleteView):
    model = AwsAccount
    action = "account.manage"
    success_url_name = "account_list_aws"

    def delete(self, obj):
        services.account_delete(actor_membership=self.membership, account_pk=obj.pk)


class AccountVerifyView(ScopedObjectMixin, DetailView):
    """Queue a check that Gantry can reach the account (sandbox endpoint or AssumeRole)."""

    model = AwsAccount
    action = "account.manage"

    def post(self, request, *args, **kwargs):
        account = self.get_object()
        transaction.on_commit(lambda: account_verify.delay(account.pk))
        messages.info(request, "Checking access to the account; refresh in a moment for the result.")
        return redirect(obj_url(account))


# --- configs ---------------------------------------------------------------------------------------


class ConfigListView(TenantMixin, ListView):
    template_name = "tenants/config_list.html"
    context_object_name = "configs"

    def get_queryset(self):
        return selectors.visible_configs(self.request.user, self.tenant)

    def get_context_data(self, **kwargs):
        usable = set(selectors.usable_configs(self.request.user, self.tenant).values_list("pk", flat=True))
        return super().get_context_data(usable_ids=usable, **kwargs)


class ConfigDetailView(ScopedObjectMixin, DetailView):
    model = Config
    template_name = "tenants/config_detail.html"
    context_object_name = "config"

    def get_context_data(self, **kwargs):
        from guardian.shortcuts import get_users_with_perms

        config = self.object
        grantees = get_users_with_perms(config, only_with_perms_in=["use_config"], with_superusers=False)
        return super().get_context_data(
            grantees=grantees,
            grant_form=forms.ConfigGrantForm(tenant=self.tenant),
            usable=selectors.usable_configs(self.request.user, self.tenant).filter(pk=config.pk).exists(),
            **kwargs,
        )


class ConfigFormMixin(ServiceFormMixin):
    form_class = forms.ConfigForm
    list_url_name = "config_list"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "tenant": self.tenant}


class ConfigCreateView(TenantMixin, ConfigFormMixin, FormView):
    action = "config.manage"
    title = "New config"

    def save(self, form):
        return services.config_create(actor_membership=self.membership, **form.service_fields())


class ConfigUpdateView(ScopedObjectMixin, ConfigFormMixin, UpdateView):
    model = Config
    action = "config.manage"

    def save(self, form):
        return services.config_update(
            actor_membership=self.membership, config_id=self.object.pk, **form.service_fields()
        )


class ConfigDeleteView(ObjectDeleteView):
    model = Config
    action = "config.manage"
    success_url_name = "config_list"

    def delete(self, obj):
        services.config_delete(actor_membership=self.membership, config_id=obj.pk)


class ConfigGrantView(ScopedObjectMixin, DetailView):
    model = Config
    action = "config.manage"

    def post(self, request, *args, **kwargs):
        config = self.get_object()
        form = forms.ConfigGrantForm(request.POST, tenant=self.tenant)
        if form.is_valid():
            services.config_set_grant(
                actor_membership=self.membership,
                config_id=config.pk,
                user_id=form.cleaned_data["user"].pk,
                granted=form.cleaned_data["granted"],
            )
            messages.success(request, "Grant updated.")
        else:
            messages.error(request, "Choose a member of this tenant.")
        return redirect(obj_url(config))


# --- members and invitations -----------------------------------------------------------------------


class MemberListView(TenantMixin, ListView):
    template_name = "tenants/member_list.html"
    context_object_name = "members"

    def get_queryset(self):
        return selectors.tenant_members(self.request.user, self.tenant)

    def get_context_data(self, **kwargs):
        return super().get_context_data(role_form=forms.MembershipRoleForm(), **kwargs)


class MemberRoleView(ScopedObjectMixin, DetailView):
    model = Membership
    action = "member.manage"

    def post(self, request, *args, **kwargs):
        membership = self.get_object()
        form = forms.MembershipRoleForm(request.POST)
        try:
            if not form.is_valid():
                raise ValidationError("Choose a valid role.")
            services.membership_change_role(
                actor_membership=self.membership, membership_id=membership.pk, role=form.cleaned_data["role"]
            )
            messages.success(request, f"{membership.user.email} is now {form.cleaned_data['role']}.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("member_list")


class MemberRemoveView(ScopedObjectMixin, DetailView):
    model = Membership
    action = "member.manage"

    def post(self, request, *args, **kwargs):
        membership = self.get_object()
        try:
            services.membership_remove(actor_membership=self.membership, membership_id=membership.pk)
            messages.success(request, f"Removed {membership.user.email}.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("member_list")


class InvitationListView(TenantMixin, FormView):
    """Lists invitations and creates new ones; the code is shown once, right after creation."""

    action = "member.manage"
    template_name = "tenants/invitation_list.html"
    form_class = forms.InvitationForm

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            invitations=selectors.tenant_invitations(self.request.user, self.tenant), **kwargs
        )

    def form_valid(self, form):
        invitation, code = services.invitation_create(actor_membership=self.membership, **form.cleaned_data)
        signup_url = self.request.build_absolute_uri(reverse("account_signup"))
        return self.render_to_response(
            self.get_context_data(
                form=self.form_class(), new_code=code, new_invitation=invitation, signup_url=signup_url
            )
        )


class InvitationRevokeView(ScopedObjectMixin, DetailView):
    model = Invitation
    action = "member.manage"

    def post(self, request, *args, **kwargs):
        invitation = self.get_object()
        try:
            services.invitation_revoke(actor_membership=self.membership, invitation_id=invitation.pk)
            messages.success(request, "Invitation revoked.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("invitation_list")


class TenantSettingsView(TenantMixin, FormView):
    action = "tenant.manage"
    template_name = "tenants/object_form.html"

    def get_form_class(self):
        from django.forms import modelform_factory

        from .models import Tenant

        return modelform_factory(
            Tenant,
            fields=[
                "name",
                "mfa_required_for_privileged",
                "forbid_self_approval",
                "checkov_severity_threshold",
                "checkov_skip_checks",
                "freeform_composition",
            ],
        )

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": self.tenant}

    def get_context_data(self, **kwargs):
        return super().get_context_data(title="Tenant settings", cancel_url=reverse("dashboard"), **kwargs)

    def form_valid(self, form):
        try:
            services.tenant_update_settings(actor_membership=self.membership, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, "Settings saved.")
        return redirect("tenant_settings")
