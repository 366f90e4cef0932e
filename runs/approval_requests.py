"""Asking people to approve and apply a planned run (what an assistant over MCP or an integration does).

Agents never approve and never apply: this records the request on the run's timeline, writes the audit
event and notifies the approvers who have not decided on this plan yet, all in one transaction with the
run row locked. Asking twice for the same plan is a no-op. A run whose config changed since the plan is
refused early (approving it would move it to `stale` anyway), as `runs.services.run_request_apply` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction

from .approvals import staleness
from .audit import audit_record
from .models import Approval, Notification, Run, RunEvent
from .notifications import approvers_for
from .services import run_note
from .states import END_STATES, IllegalTransition, RunStatus, label

S = RunStatus
AUDIT_ACTION = "run.approval_requested"


@dataclass(frozen=True)
class ApprovalRequest:
    run: Run
    created: bool  # False: this plan had already been put to the approvers
    notified: int  # approvers notified now


def approval_request_create(*, user, run_id: int, note: str = "", via: str = "mcp") -> ApprovalRequest:
    """Put run `run_id`'s plan to its approvers on `user`'s behalf. Run.DoesNotExist for a run the user
    cannot see; PermissionDenied when their role or the config's narrowing does not allow `run.apply`."""
    with transaction.atomic():
        run = Run.objects.for_user(user, "view").select_for_update().select_related("config").get(pk=run_id)
        if not Run.objects.for_user(user, "run.apply").filter(pk=run.pk).exists():
            raise PermissionDenied(
                f"You may not ask for applies on config {run.config.name} (role or restricted config)."
            )
        if run.status != S.AWAITING_APPROVAL:
            raise IllegalTransition(run.status, S.APPROVED, reason=_why_not(run))
        reasons = staleness(run)
        if reasons:
            raise IllegalTransition(
                run.status,
                S.APPROVED,
                reason="the plan is stale (" + "; ".join(reasons) + "); plan it again with refresh",
            )
        already = RunEvent.objects.filter(run=run, data__approval_requested=run.plan_sha256).exists()
        if already:
            return ApprovalRequest(run=run, created=False, notified=0)
        note = (note or "").strip()[:1000]
        who = getattr(user, "email", "") or str(user)
        run_note(
            run.pk,
            f"{who} asked (via {via}) for this plan to be approved and applied"
            + (f": {note}" if note else ""),
            data={"approval_requested": run.plan_sha256, "via": via, "note": note},
            actor=user,
        )
        audit_record(
            tenant=run.tenant,
            action=AUDIT_ACTION,
            actor=user,
            target=run,
            summary=f"Approval of run #{run.pk} requested via {via}",
            data={"plan_sha256": run.plan_sha256, "note": note, "via": via},
        )
        decided = set(
            Approval.objects.filter(run=run, plan_sha256=run.plan_sha256, voided_at__isnull=True).values_list(
                "approver_id", flat=True
            )
        )
        recipients = [u for u in approvers_for(run) if u.pk not in decided]
        if run.tenant.forbid_self_approval:
            recipients = [u for u in recipients if u.pk != run.requested_by_id]
        message = f"Run #{run.pk} on {run.config.name}: {who} asks for approval" + (
            f" ({note})" if note else ""
        )
        Notification.objects.bulk_create(
            Notification(tenant_id=run.tenant_id, user=u, run=run, kind=AUDIT_ACTION, message=message[:500])
            for u in recipients
        )
        return ApprovalRequest(run=run, created=True, notified=len(recipients))


def _why_not(run: Run) -> str:
    status = run.status
    if status == S.APPROVED:
        return "it is already approved; a person starts the apply in Gantry (agents cannot apply)"
    if status in END_STATES:
        return f"the run has ended ({label(status).lower()}); plan it again with refresh"
    if status == S.NEEDS_CLARIFICATION:
        return "it still needs answers before it can be planned"
    return "it has no plan yet; wait for it with `plan`"
