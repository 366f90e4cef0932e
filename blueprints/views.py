"""Blueprint pages: the library, a blueprint with its versions and usage, approving a version, and
"save as blueprint" from an applied run.

Everything is read in the active tenant: the platform's blueprints plus the tenant's own. Another tenant's
blueprint, version or run answers 404 before any role check; a role too low for a write answers 403. Writes
go through ``blueprints.services`` (locked, audited in the same transaction).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from portal.mixins import TenantMixin
from runs.models import Run
from runs.selectors import run_for_user
from tenants.roles import role_allows
from tenants.services import require

from . import forms, selectors, services
from .models import Blueprint
from .stacks import STACKS

USAGE_SHOWN = 20


def may_approve(user, role: str | None, blueprint: Blueprint) -> bool:
    """Tenant blueprints: approvers and admins of the tenant; platform blueprints: platform staff only."""
    if blueprint.is_platform:
        return bool(user.is_superuser)
    return role_allows(role, "blueprint.approve")


class ScopedBlueprintMixin(TenantMixin):
    """Looks the blueprint up among the platform's and the active tenant's (else 404) before any role
    check, so another tenant's id never reveals whether it exists."""

    def authorize(self) -> None:
        """Deferred until the object is found."""

    def get_blueprint(self) -> Blueprint:
        try:
            return selectors.blueprint_for_user(self.request.user, self.kwargs["pk"], tenant=self.tenant)
        except Blueprint.DoesNotExist:
            raise Http404("No such blueprint") from None


class BlueprintListView(TenantMixin, ListView):
    """The library: search and filters as plain GET parameters; htmx swaps only the results."""

    template_name = "blueprints/blueprint_list.html"
    context_object_name = "blueprints"
    paginate_by = 25

    def get_queryset(self):
        self.form = forms.BlueprintSearchForm(self.request.GET or None)
        return selectors.blueprint_library(self.request.user, tenant=self.tenant, **self.form.filters())

    def paginate_queryset(self, queryset, page_size):
        # An out-of-range or malformed page shows the nearest page instead of a 404.
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(self.request.GET.get("page"))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_template_names(self):
        if self.request.htmx and not self.request.htmx.boosted:
            return ["blueprints/_results.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(
            form=self.form,
            filtered=any(self.form.filters().values()),
            page_query=query.urlencode(),
            **kwargs,
        )


class BlueprintDetailView(ScopedBlueprintMixin, DetailView):
    template_name = "blueprints/blueprint_detail.html"
    context_object_name = "blueprint"

    def get_object(self, queryset=None):
        return self.get_blueprint()

    def get_context_data(self, **kwargs):
        blueprint, user = self.object, self.request.user
        stack = STACKS[blueprint.stack]
        usage = selectors.blueprint_usage(user, blueprint, tenant=self.tenant)
        schema = (blueprint.parameter_schema or {}).get("properties") or stack.parameters
        parameters = [
            {"name": name, "schema": spec, "default": blueprint.defaults.get(name)}
            for name, spec in schema.items()
            if name != stack.name_parameter  # each deployment names itself
        ]
        return super().get_context_data(
            stack=stack,
            versions=selectors.blueprint_versions(blueprint),
            parameters=parameters,
            usage=usage[:USAGE_SHOWN],
            usage_total=usage.count(),
            can_approve=may_approve(user, self.membership.role, blueprint),
            can_use=role_allows(self.membership.role, "run.create"),
            **kwargs,
        )


class BlueprintVersionApproveView(ScopedBlueprintMixin, View):
    """POST: approve one version (approvers and admins; platform blueprints only by platform staff)."""

    def post(self, request, pk: int, version_pk: int):
        blueprint = self.get_blueprint()
        version = get_object_or_404(blueprint.versions, pk=version_pk)
        if not may_approve(request.user, self.membership.role, blueprint):
            raise PermissionDenied("Your role does not allow blueprint.approve.")
        try:
            services.blueprint_approve(blueprint=blueprint, user=request.user, version=version)
        except (ValidationError, PermissionDenied) as exc:
            # Refusals of the rules themselves (already approved, self-approval forbidden).
            messages.error(request, " ".join(getattr(exc, "messages", None) or [str(exc)]))
        else:
            messages.success(request, f"Approved {blueprint.name} version {version.number}.")
        return redirect("blueprint_detail", pk=blueprint.pk)


class BlueprintSaveFromRunView(TenantMixin, FormView):
    """ "Save as blueprint" from an applied run: GET shows the form with what will be kept, POST saves
    through ``blueprints.services.blueprint_save_from_run`` and opens the new (draft) blueprint."""

    template_name = "blueprints/save_from_run.html"
    form_class = forms.SaveAsBlueprintForm

    def authorize(self) -> None:
        """Deferred until the run is found."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.gantry.membership is not None:
            self.run = self.get_run()
            require(self.membership, "blueprint.create")
        return super().dispatch(request, *args, **kwargs)

    def get_run(self) -> Run:
        try:
            run = run_for_user(self.request.user, self.kwargs["run_id"])
        except Run.DoesNotExist:
            raise Http404("No such run") from None
        if run.tenant_id != self.tenant.pk:
            raise Http404("No such run")
        return run

    def get_initial(self):
        stack = STACKS.get((self.run.spec or {}).get("stack", ""))
        title = stack.title.split(" (")[0] if stack else "Blueprint"
        return {"name": f"{title} from run #{self.run.pk}", "description": self.run.request_text[:2000]}

    def get_context_data(self, **kwargs):
        try:
            portable, problem = services.blueprint_spec(self.run.spec or {}), ""
        except ValidationError as exc:
            portable, problem = None, " ".join(exc.messages)
        return super().get_context_data(run=self.run, portable=portable, problem=problem, **kwargs)

    def form_valid(self, form):
        try:
            blueprint = services.blueprint_save_from_run(
                user=self.request.user,
                run_id=self.run.pk,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        messages.success(
            self.request, f"Saved {blueprint.name} as a draft; an approver approves it before it is reused."
        )
        return redirect(reverse("blueprint_detail", args=[blueprint.pk]))
