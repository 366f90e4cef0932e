"""The console: type a request, watch Gantry's understanding of it update, submit it as a run."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import redirect, render
from django.views import View

from blueprints.selectors import versions_for
from portal.mixins import TenantMixin
from runs.services import run_answer_clarification, run_create
from runs.states import IllegalTransition
from tenants.models import Config

from .forms import ANSWER_PREFIX, ConsoleForm
from .preview import request_preview


def _form_errors(form, exc: ValidationError) -> None:
    """A service's ValidationError onto the form: named fields where it names them, else the form."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class ConsoleMixin(TenantMixin):
    action = "run.create"

    def form(self, data=None, initial=None) -> ConsoleForm:
        return ConsoleForm(data, initial=initial, user=self.request.user, tenant=self.tenant)

    def blueprint_version(self, version_id):
        """An approved blueprint version the user may see in the active tenant (platform or own), or None."""
        if not version_id:
            return None
        try:
            version_id = int(version_id)
        except (TypeError, ValueError):
            return None
        return (
            versions_for(self.request.user)
            .filter(pk=version_id, approved_at__isnull=False)
            .filter(Q(blueprint__tenant=self.tenant) | Q(blueprint__tenant__isnull=True))
            .first()
        )

    def preview_for(self, form: ConsoleForm):
        """The preview of a bound form, or None when the text or config is not usable yet."""
        if not form.is_valid():
            return None
        return request_preview(
            user=self.request.user,
            config=form.cleaned_data["config"],
            text=form.cleaned_data["request_text"],
            answers=form.answers(),
        )

    def run_config(self, form: ConsoleForm):
        """The config the request would run with: the form's choice when usable, else the active one."""
        choice = form["config"].value()
        if choice not in (None, ""):
            try:
                return form.fields["config"].queryset.filter(pk=int(choice)).first()
            except (TypeError, ValueError):
                return None
        return self.request.gantry.config

    def render_page(self, form: ConsoleForm, *, preview=None, status: int = 200):
        blueprint = self.blueprint_version(form["blueprint"].value())
        context = {
            "form": form,
            "preview": preview,
            "pinned_blueprint": blueprint,
            "run_config": self.run_config(form),
            "role": self.membership.role,
            "answer_prefix": ANSWER_PREFIX,
        }
        return render(self.request, "agents/console.html", context, status=status)


class ConsoleView(ConsoleMixin, View):
    """GET: the console, pre-filled from ?text= and ?blueprint=<version id>. POST: submit as a run."""

    def get(self, request):
        initial = {"config": request.gantry.config, "request_text": request.GET.get("text", "")[:10_000]}
        if request.GET.get("config"):
            # "Start from this blueprint" keeps the config chosen in the console; only a usable one.
            chosen = self.run_config(self.form(data={"config": request.GET["config"]}))
            initial["config"] = chosen or initial["config"]
        version = self.blueprint_version(request.GET.get("blueprint"))
        if request.GET.get("blueprint") and version is None:
            messages.error(request, "That blueprint version does not exist or is not approved.")
        if version is not None:
            initial["blueprint"] = version.pk
            initial["request_text"] = initial["request_text"] or f"Create {version.blueprint.name}"
        form = self.form(initial=initial)
        preview = None
        if initial["request_text"] and initial["config"] is not None:
            # Server-side first preview, so the page is useful before (and without) JavaScript.
            preview = self.preview_for(self.form(data={**initial, "config": initial["config"].pk}))
        return self.render_page(form, preview=preview)

    def post(self, request):
        form = self.form(data=request.POST)
        if not form.is_valid():
            return self.render_page(form, status=400)
        blueprint_id = form.cleaned_data.get("blueprint")
        if blueprint_id and self.blueprint_version(blueprint_id) is None:
            form.add_error("blueprint", "That blueprint version does not exist or is not approved.")
            return self.render_page(form, status=400)
        extra = {"blueprint_version_id": blueprint_id} if blueprint_id else {}
        try:
            run = run_create(
                user=request.user,
                config_id=form.cleaned_data["config"].pk,
                request_text=form.cleaned_data["request_text"],
                **extra,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.render_page(form, status=400)
        except (PermissionDenied, Config.DoesNotExist) as exc:
            form.add_error("config", str(exc) or "You may not use that config.")
            return self.render_page(form, status=400)
        self._answer_inline(run, form.answers())
        messages.success(request, f"Run #{run.pk} created.")
        return redirect("run_detail", pk=run.pk)

    def _answer_inline(self, run, answers: dict[str, str]) -> None:
        """Answers typed in the console settle the run's open questions right away."""
        open_fields = {q.get("field") for q in (run.clarification or {}).get("questions", [])}
        given = {name: value for name, value in answers.items() if name in open_fields}
        if not given:
            return
        try:
            run_answer_clarification(user=self.request.user, run_id=run.pk, answers=given)
        except (ValidationError, IllegalTransition) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            messages.warning(self.request, f"Your answers were not accepted: {text} Answer them below.")


class ConsolePreviewView(ConsoleMixin, View):
    """The live preview (htmx partial, debounced as the user types); without JS, the whole console page."""

    def post(self, request):
        form = self.form(data=request.POST)
        preview = self.preview_for(form)
        if request.htmx:
            # The preview, and the config card out of band so it follows the "Run with config" choice.
            context = {
                "form": form,
                "preview": preview,
                "answer_prefix": ANSWER_PREFIX,
                "run_config": self.run_config(form),
                "oob": True,
            }
            return render(request, "agents/_preview_response.html", context)
        return self.render_page(form, preview=preview, status=200 if form.is_valid() else 400)
