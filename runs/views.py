"""Run pages: the list, the live run page and its actions, artifact downloads and the approval queue.

Reads go through `runs.selectors` (tenant-scoped: another tenant's id is a 404); every action is a POST
form handled by one service from `runs.services` / `runs.approvals`. A service's refusal (illegal
transition, stale plan, validation) becomes a message on the run page and nothing is half-done; a role
too low for the action is a 403.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views import View

from iac.redaction import MASK
from portal.mixins import TenantMixin
from tenants.roles import role_allows

from . import artifacts, locks, selectors, services
from .approvals import RunStale, run_approve, run_reject, warnings_to_acknowledge
from .drift import SHAPING_KINDS, last_applied
from .engines import engine_for
from .forms import (
    ApproveForm,
    CancelForm,
    ClarificationForm,
    DestroyForm,
    ForceUnlockForm,
    RejectForm,
    RunFilterForm,
)
from .models import ApprovalDecision, Artifact, ArtifactKind, GateResult, GateStatus, Run, RunKind
from .plan_diff import output_values, plan_diff
from .states import AWAITING_PEOPLE, IN_FLIGHT, MAIN_LINE, IllegalTransition, RunStatus, label

logger = logging.getLogger(__name__)

S = RunStatus
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
POLL_BUSY = "2s"  # a worker is on it: the timeline moves every few seconds
POLL_WAITING = "15s"  # waiting on people: only someone else's decision changes it
# Ends nobody needs to act on: shown grey, not red.
QUIET_ENDS = frozenset({S.CANCELLED, S.SUPERSEDED, S.EXPIRED})
EXPIRES_SOON = timedelta(hours=4)  # the approval queue flags plans about to expire
# Recoverable service refusals: shown as a message, the page stays as it was.
SERVICE_ERRORS = (IllegalTransition, RunStale, locks.WorkspaceBusy)


def _message_of(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


# --- list ---------------------------------------------------------------------------------------------


class RunListView(TenantMixin, View):
    paginate_by = 25

    def get(self, request):
        form = RunFilterForm(request.GET or None)
        filters = form.cleaned_data if form.is_valid() else {}
        runs = selectors.runs_for_user(
            request.user,
            tenant=self.tenant,
            status=filters.get("status") or None,
            state=filters.get("state") or None,
            requested_by_id=request.user.pk if filters.get("mine") else None,
        )
        page = Paginator(runs, self.paginate_by).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            "form": form,
            "page": page,
            "runs": page.object_list,
            "query": query.urlencode(),
            "can_request": role_allows(self.membership.role, "run.create"),
        }
        template = "runs/_run_table.html" if request.htmx else "runs/run_list.html"
        return render(request, template, context)


# --- the run page ---------------------------------------------------------------------------------------


def _scoped_run(view: TenantMixin, pk: int) -> Run:
    """The run if the user sees it in the active tenant; 404 otherwise (another tenant's id included)."""
    try:
        run = selectors.run_for_user(view.request.user, pk)
    except Run.DoesNotExist:
        raise Http404("No such run.") from None
    if run.tenant_id != view.tenant.pk:
        raise Http404("No such run.")
    return run


def stage_rows(run: Run, events) -> tuple[list[dict], list[dict]]:
    """The main line with each stage's state and time spent in it, and the worker's own stage timings.

    States: done, current (a worker is on it), waiting (on people), stopped (where an ended run left
    the main line), skipped (never reached because the run ended), pending. The current stage carries
    `since` so the page can say for how long."""
    reached = {e.to_status for e in events}
    entered = {}
    for event in events:
        entered.setdefault(event.to_status, event.created_at)
    left_main_line = run.is_finished and run.status not in MAIN_LINE
    last_reached = max((i for i, status in enumerate(MAIN_LINE) if status in reached), default=-1)
    rows = []
    for index, status in enumerate(MAIN_LINE):
        if status == run.status:
            state = "done" if run.is_finished else ("waiting" if status in AWAITING_PEOPLE else "current")
        elif left_main_line and index == last_reached:
            state = "stopped"
        elif status in reached:
            state = "done"
        else:
            state = "skipped" if run.is_finished else "pending"
        nxt = next((entered[s] for s in MAIN_LINE[index + 1 :] if s in entered), None)
        if nxt is None and left_main_line and index == last_reached:
            nxt = entered.get(run.status)
        started = entered.get(status)
        ms = None
        if started is not None and nxt is not None:
            ms = int((nxt - started).total_seconds() * 1000)
        since = started if state in ("current", "waiting") else None
        rows.append({"status": status, "label": label(status), "state": state, "ms": ms, "since": since})
    if left_main_line:
        tone = "ok" if run.status == S.NO_CHANGES else ("neutral" if run.status in QUIET_ENDS else "bad")
        rows.append(
            {"status": run.status, "label": label(run.status), "state": "ended", "ms": None, "tone": tone}
        )
    elif run.status == S.NEEDS_CLARIFICATION:
        since = entered.get(run.status)
        rows.insert(
            0,
            {
                "status": run.status,
                "label": label(run.status),
                "state": "waiting",
                "ms": None,
                "since": since,
            },
        )
    return rows, worker_timings(run.stage_timings)


def worker_timings(timings: dict | None) -> list[dict]:
    """The worker's per-stage record (`{stage: {"status", "ms", ...}}`, or a bare number of ms in older
    rows) as display rows, in the order the worker wrote them."""
    rows = []
    for name, entry in (timings or {}).items():
        if isinstance(entry, int | float):
            entry = {"ms": entry}
        if not isinstance(entry, dict):
            continue
        ms = entry.get("ms")
        rows.append(
            {
                "name": name,
                "status": str(entry.get("status") or ""),
                "ms": int(ms) if isinstance(ms, int | float) else None,
            }
        )
    return rows


def event_rows(events) -> list[dict]:
    """Timeline entries with the time spent until the next one."""
    events = list(events)
    rows = []
    for index, event in enumerate(events):
        following = events[index + 1] if index + 1 < len(events) else None
        took: timedelta | None = (following.created_at - event.created_at) if following else None
        rows.append({"event": event, "took_ms": int(took.total_seconds() * 1000) if took else None})
    return rows


def findings_by_severity(gates) -> list[dict]:
    """Each gate with its findings grouped by severity, most severe first."""
    out = []
    for gate in gates:
        groups: OrderedDict[str, list] = OrderedDict((s, []) for s in SEVERITY_ORDER)
        for finding in gate.findings or []:
            severity = str(finding.get("severity") or "info").lower()
            groups.setdefault(severity, []).append(finding)
        out.append({"gate": gate, "groups": [(s, items) for s, items in groups.items() if items]})
    return out


def read_plan_json(run: Run) -> tuple[dict | None, str]:
    """(plan JSON, error text) from the run's latest redacted plan JSON; the raw plan file is never read
    here. (None, "") when the run has no plan."""
    artifact = artifacts.latest(run, ArtifactKind.PLAN_JSON_REDACTED)
    if artifact is None:
        return None, ""
    try:
        return json.loads(artifacts.artifact_read(artifact)), ""
    except artifacts.ArtifactIntegrityError:
        return None, "The stored plan does not match its recorded digest; it is not shown."
    except (OSError, ValueError) as exc:
        logger.warning("run #%s: plan JSON unreadable: %s", run.pk, exc)
        return None, "The plan could not be read."


def load_plan_diff(run: Run):
    """(diff, error text) from the latest redacted plan JSON."""
    plan, error = read_plan_json(run)
    return (plan_diff(plan) if plan is not None else None), error


def _shown(value) -> str:
    """A drift value as the page shows it: text as is, structures as compact JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def drift_report(run: Run) -> dict | None:
    """What a drift run found, ready to show: per resource, each attribute's recorded (state) and actual
    value, already redacted by `drifted_resources` (masked values stay masked), and who changed it
    according to CloudTrail. None for other kinds; {} while the check has not finished."""
    if run.kind != RunKind.DRIFT:
        return None
    drift = (run.plan_summary or {}).get("drift")
    if not isinstance(drift, dict):
        return {}
    resources = []
    for resource in drift.get("resources") or []:
        differences = [
            {
                "attribute": d.get("attribute", ""),
                "recorded": _shown(d.get("before")),
                "actual": _shown(d.get("after")),
                "masked": MASK in _shown(d.get("before")) + _shown(d.get("after")),
            }
            for d in resource.get("differences") or []
        ]
        changed_by = [
            {**e, "time": parse_datetime(e["time"]) if e.get("time") else None}
            for e in resource.get("changed_by") or []
        ]
        resources.append({**resource, "differences": differences, "changed_by": changed_by})
    return {
        "resources": resources,
        "cloudtrail": drift.get("cloudtrail") or {},
        "since": parse_datetime(drift["since"]) if drift.get("since") else None,
        "applied_run": drift.get("applied_run"),
    }


def stack_resources(run: Run) -> list[str]:
    """The managed resources an applied run left in its stack, from its redacted plan's planned values
    (the whole stack after that apply, not only what it changed)."""
    plan, _ = read_plan_json(run)
    if plan is None:
        return []
    addresses: list[str] = []
    modules = [((plan.get("planned_values") or {}).get("root_module")) or {}]
    while modules:
        module = modules.pop()
        addresses += [r["address"] for r in module.get("resources") or [] if r.get("mode") == "managed"]
        modules += module.get("child_modules") or []
    return sorted(addresses)


def is_destroyable(run: Run) -> bool:
    """The stack's last applied run: the one whose page offers to destroy it (the service re-checks)."""
    if run.status != S.APPLIED or run.kind not in SHAPING_KINDS or not run.spec:
        return False
    current = last_applied(run)
    return current is not None and current.pk == run.pk


class RunPageMixin(TenantMixin):
    def allowed(self, run: Run) -> dict[str, bool]:
        """What the user may do on this run, by role and config narrowing (not by state)."""
        role = self.membership.role
        user = self.request.user
        out = {}
        for action in ("run.create", "run.cancel", "run.plan", "run.apply", "run.approve"):
            out[action] = role_allows(role, action) and (
                Run.objects.for_user(user, action).filter(pk=run.pk).exists()
            )
        out["workspace.force_unlock"] = role_allows(role, "workspace.force_unlock")
        return out

    def run_context(self, run: Run, **forms) -> dict:
        user = self.request.user
        events = list(selectors.run_timeline(run))
        stages, timings = stage_rows(run, events)
        allowed = self.allowed(run)
        warnings = warnings_to_acknowledge(run) if run.status == S.AWAITING_APPROVAL else []
        ticket_required = services.run_needs_ticket(run)
        approvals = list(selectors.run_approvals(run))
        my_decision = next(
            (
                a
                for a in approvals
                if a.approver_id == user.pk and not a.voided_at and a.plan_sha256 == run.plan_sha256
            ),
            None,
        )
        self_blocked = run.tenant.forbid_self_approval and run.requested_by_id == user.pk
        can_decide = (
            run.status == S.AWAITING_APPROVAL
            and allowed["run.approve"]
            and not self_blocked
            and not my_decision
        )
        questions = (run.clarification or {}).get("questions", [])
        engine_page = engine_for(run.engine).page(run)
        if engine_page is not None or not (run.plan_sha256 or run.has_changes):
            diff, diff_error = None, ""
        else:
            diff, diff_error = load_plan_diff(run)
        lock = locks.held_by(run)
        gates = findings_by_severity(selectors.run_gates(run))
        return {
            "run": run,
            "status_label": label(run.status),
            "stages": stages,
            "stage_timings": timings,
            "events": event_rows(events),
            "gates": gates,
            "gate_tally": {
                status: sum(1 for g in gates if g["gate"].status == status) for status in GateStatus
            },
            "cost": run.cost_estimate or {},
            "cost_over_budget": any(b.get("exceeded") for b in (run.cost_estimate or {}).get("budgets", [])),
            "diff": diff,
            "diff_error": diff_error,
            "engine_page": engine_page,
            "can_follow_up": bool(
                engine_page
                and engine_page.get("follow_up")
                and run.status == S.FAILED
                and allowed["run.plan"]
            ),
            "artifacts": selectors.run_artifacts(run),
            "outputs": output_values(run.outputs) if engine_page is None else {},
            "approvals": approvals,
            "live_approvals": sum(
                1
                for a in approvals
                if a.decision == ApprovalDecision.APPROVE
                and not a.voided_at
                and a.plan_sha256 == run.plan_sha256
            ),
            "my_decision": my_decision,
            "self_blocked": self_blocked and run.status == S.AWAITING_APPROVAL,
            "can_decide": can_decide,
            "warnings": warnings,
            "ticket_required": ticket_required,
            "approve_form": forms.get("approve_form")
            or ApproveForm(
                warnings=warnings, ticket_required=ticket_required, initial={"plan_sha256": run.plan_sha256}
            ),
            "reject_form": forms.get("reject_form") or RejectForm(),
            "clarify_form": forms.get("clarify_form") or ClarificationForm(questions=questions),
            "unlock_form": forms.get("unlock_form") or ForceUnlockForm(),
            "questions": questions if run.status == S.NEEDS_CLARIFICATION else [],
            "can_answer": run.status == S.NEEDS_CLARIFICATION and allowed["run.create"],
            "can_cancel": allowed["run.cancel"]
            and not run.is_finished
            and run.status not in AWAITING_PEOPLE
            and run.status != S.APPLYING,
            "can_discard": allowed["run.cancel"] and run.status in AWAITING_PEOPLE,
            # Answers, not a re-plan, move a run that waits for clarification.
            "can_replan": allowed["run.plan"]
            and run.status not in IN_FLIGHT
            and run.status not in (S.QUEUED, S.NEEDS_CLARIFICATION),
            "can_apply": allowed["run.apply"] and run.status == S.APPROVED and run.apply_requested_at is None,
            "can_destroy": allowed["run.plan"] and is_destroyable(run),
            "can_reconcile": allowed["run.plan"]
            and run.kind == RunKind.DRIFT
            and run.status == S.AWAITING_APPROVAL,
            "drift": drift_report(run),
            "lock": lock,
            "can_unlock": lock is not None and allowed["workspace.force_unlock"],
            "busy": run.status in IN_FLIGHT,
            "poll_every": None
            if run.is_finished
            else (POLL_WAITING if run.status in AWAITING_PEOPLE else POLL_BUSY),
            "allowed": allowed,
        }

    def render_run(self, run: Run, *, status: int = 200, **forms):
        return render(self.request, "runs/run_detail.html", self.run_context(run, **forms), status=status)


class RunDetailView(RunPageMixin, View):
    """The run page; with htmx and ?live=<status seen>, the live partial that polls until the run ends."""

    def get(self, request, pk: int):
        run = _scoped_run(self, pk)
        if request.htmx and "live" in request.GET:
            return self.live(run, seen=request.GET.get("live", ""))
        return self.render_run(run)

    def live(self, run: Run, *, seen: str) -> HttpResponse:
        if seen and seen != run.status:
            # The state moved: actions, plan and gates change with it, so the whole page reloads.
            response = HttpResponse(status=286 if run.is_finished else 200)
            response["HX-Refresh"] = "true"
            return response
        events = list(selectors.run_timeline(run))
        stages, timings = stage_rows(run, events)
        context = {
            "run": run,
            "status_label": label(run.status),
            "stages": stages,
            "stage_timings": timings,
            "events": event_rows(events),
            "payload": selectors.run_status_payload(run),
            "oob": True,  # the log card lives in the main column; it rides along out of band
            "busy": run.status in IN_FLIGHT,
            "poll_every": None
            if run.is_finished
            else (POLL_WAITING if run.status in AWAITING_PEOPLE else POLL_BUSY),
        }
        # 286 tells htmx to stop polling: the run has ended and nothing will move any more.
        return render(self.request, "runs/_run_live.html", context, status=286 if run.is_finished else 200)


# --- actions --------------------------------------------------------------------------------------------


class RunActionView(RunPageMixin, View):
    """POST only. Subclasses validate their form and call one service; refusals become messages."""

    form_class = CancelForm
    form_name = ""
    success = ""

    def post(self, request, pk: int):
        run = _scoped_run(self, pk)
        self.authorize_run(run)
        form = self.make_form(run, request.POST)
        if not form.is_valid():
            return self.render_run(run, status=400, **{self.form_name: form})
        try:
            result = self.perform(run, form)
        except SERVICE_ERRORS as exc:
            messages.error(request, _message_of(exc))
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and self.form_name:
                for name, errors in exc.error_dict.items():
                    form.add_error(name if name in form.fields else None, errors)
                return self.render_run(run, status=400, **{self.form_name: form})
            messages.error(request, _message_of(exc))
        else:
            if self.success:
                messages.success(request, self.success)
            if isinstance(result, Run) and result.pk != run.pk:
                return redirect("run_detail", pk=result.pk)
        return redirect("run_detail", pk=run.pk)

    def authorize_run(self, run: Run) -> None:
        """A check before the form is read; by default the service itself refuses (403)."""

    def make_form(self, run: Run, data):
        return self.form_class(data)

    def perform(self, run: Run, form):
        raise NotImplementedError


class RunApproveView(RunActionView):
    form_name = "approve_form"
    success = "Approved."

    def make_form(self, run, data):
        return ApproveForm(
            data,
            warnings=warnings_to_acknowledge(run),
            ticket_required=services.run_needs_ticket(run),
        )

    def perform(self, run, form):
        return run_approve(
            user=self.request.user,
            run_id=run.pk,
            comment=form.cleaned_data["comment"],
            change_ticket=form.cleaned_data["change_ticket"],
            acknowledged_warnings=form.cleaned_data["acknowledged_warnings"],
            plan_sha256=form.cleaned_data["plan_sha256"] or None,
        )


class RunRejectView(RunActionView):
    form_class = RejectForm
    form_name = "reject_form"
    success = "Rejected."

    def perform(self, run, form):
        return run_reject(user=self.request.user, run_id=run.pk, comment=form.cleaned_data["comment"])


class RunCancelView(RunActionView):
    success = "Cancelled."

    def perform(self, run, form):
        return services.run_cancel(user=self.request.user, run_id=run.pk, reason=form.cleaned_data["reason"])


class RunDiscardView(RunActionView):
    success = "Discarded."

    def perform(self, run, form):
        return services.run_discard(user=self.request.user, run_id=run.pk)


class RunReplanView(RunActionView):
    success = "Planning again as a new run."

    def perform(self, run, form):
        return services.run_replan(user=self.request.user, run_id=run.pk)


class RunFollowUpView(RunActionView):
    success = "Planned as a new run; nothing changes until it is approved and applied."

    def perform(self, run, form):
        return services.run_follow_up_create(user=self.request.user, run_id=run.pk)


class RunRequestApplyView(RunActionView):
    success = "Apply requested."

    def perform(self, run, form):
        result = services.run_request_apply(user=self.request.user, run_id=run.pk)
        if result.status != S.APPROVED:
            # check_apply refused early and moved the run (stale or expired): say so instead of "requested".
            self.success = ""
            messages.error(
                self.request, f"Not applied: the run is now {label(result.status)}. {result.error}".strip()
            )
        return result


class RunAnswerView(RunActionView):
    form_name = "clarify_form"
    success = "Answers recorded."

    def make_form(self, run, data):
        return ClarificationForm(data, questions=(run.clarification or {}).get("questions", []))

    def perform(self, run, form):
        answers = form.answers()
        if not answers:
            raise ValidationError("Answer at least one question.")
        return services.run_answer_clarification(user=self.request.user, run_id=run.pk, answers=answers)


class RunDestroyView(RunActionView):
    """GET: what destroying the stack removes, and a confirmation; POST: plans the destroy as a new run of
    kind `destroy`, which goes through the gates and approvals like any change before anything is removed."""

    form_name = "destroy_form"
    success = "Destroy planned as a new run; nothing is removed until it is approved and applied."

    def authorize_run(self, run: Run) -> None:
        if not self.allowed(run)["run.plan"]:
            raise PermissionDenied("Your role does not allow planning a destroy here.")

    def get(self, request, pk: int):
        run = _scoped_run(self, pk)
        self.authorize_run(run)
        if not is_destroyable(run):
            messages.error(request, "Only the last applied run of a stack can destroy it.")
            return redirect("run_detail", pk=run.pk)
        return self.render_run(run)

    def make_form(self, run, data):
        return DestroyForm(data, stack=self.stack_name(run))

    def perform(self, run, form):
        return services.run_destroy_request(user=self.request.user, run_id=run.pk)

    @staticmethod
    def stack_name(run: Run) -> str:
        return str((run.spec or {}).get("stack") or "stack")

    def render_run(self, run: Run, *, status: int = 200, **forms):
        """The confirmation page stands in for the run page, with the form's errors when it was refused."""
        env = run.config.env
        context = {
            "run": run,
            "stack": self.stack_name(run),
            "resources": stack_resources(run),
            "approvals_required": services.approvals_required_for(env),
            "ticket_required": services.change_ticket_required(env),
            "form": forms.get("destroy_form") or DestroyForm(stack=self.stack_name(run)),
        }
        return render(self.request, "runs/run_destroy_confirm.html", context, status=status)


class RunReconcileView(RunActionView):
    """From a drift run that found drift: plan the stack back to its code as a new run of kind `reconcile`."""

    success = "Reconcile planned as a new run: it puts the resources back as the code says, once approved."

    def perform(self, run, form):
        return services.run_reconcile_request(user=self.request.user, run_id=run.pk)


class WorkspaceForceUnlockView(RunActionView):
    form_class = ForceUnlockForm
    form_name = "unlock_form"
    success = "Workspace lock released."

    def perform(self, run, form):
        lock = locks.held_by(run)
        if lock is None:
            raise IllegalTransition(run.status, run.status, reason="this run holds no workspace lock")
        services.workspace_force_unlock(
            user=self.request.user,
            lock_id=lock.pk,
            terraform_lock_id=form.cleaned_data["terraform_lock_id"],
            reason=form.cleaned_data["reason"],
        )


# --- artifacts ------------------------------------------------------------------------------------------


class ArtifactDownloadView(TenantMixin, View):
    """Permission-checked and audited; a pre-signed URL where the storage gives one, else streamed."""

    action = "artifact.download"

    def get(self, request, pk: int):
        try:
            artifact = artifacts.artifact_download(user=request.user, artifact_id=pk)
        except Artifact.DoesNotExist:
            raise Http404("No such artifact.") from None
        return artifacts.download_response(artifact)


# --- approval queue -------------------------------------------------------------------------------------


class ApprovalQueueView(TenantMixin, View):
    def get(self, request):
        may_approve = role_allows(self.membership.role, "run.approve")
        now = timezone.now()
        rows = []
        if may_approve:
            runs = (
                selectors.runs_awaiting_my_approval(request.user, tenant=self.tenant)
                .select_related("requested_by")
                .prefetch_related(Prefetch("gate_results", queryset=GateResult.objects.order_by("order")))
                .annotate(
                    approvals_given=Count(
                        "approvals",
                        filter=Q(
                            approvals__voided_at__isnull=True, approvals__decision=ApprovalDecision.APPROVE
                        ),
                    )
                )
            )
            for run in runs:
                warnings = sum(
                    1
                    for gate in run.gate_results.all()
                    for f in gate.findings or []
                    if not f.get("blocking", True)
                )
                cost = run.cost_estimate or {}
                rows.append(
                    {
                        "run": run,
                        "warnings": warnings,
                        "cost": cost,
                        "over_budget": any(b.get("exceeded") for b in cost.get("budgets", [])),
                        "expires_soon": run.approval_deadline is not None
                        and run.approval_deadline - now < EXPIRES_SOON,
                    }
                )
        return render(request, "runs/approval_queue.html", {"rows": rows, "may_approve": may_approve})
