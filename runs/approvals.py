"""Approving (or rejecting) exactly what was planned.

An approval records the plan file's sha256, the rendered source's sha256, the spec's sha256, the config
version and the gate digest. Approvers and admins only (and only those who may use a restricted config);
the requester cannot approve their own run when the tenant forbids it; prod needs a change ticket; every
non-blocking gate warning must be acknowledged one by one. Reaching the required number of approvals moves
the run to `approved` exactly once: the run row is locked for the whole decision and the database refuses
a second live approval by the same approver for the same plan (`one_live_approval_per_approver_plan`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .audit import audit_record
from .models import Approval, ApprovalDecision, GateResult, Run
from .services import _load, run_needs_ticket, transition
from .states import IllegalTransition, RunStatus

S = RunStatus


class RunStale(Exception):
    """Something the approval binds to changed since the plan; the run was moved to `stale`."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("The plan is stale: " + "; ".join(reasons))


@dataclass(frozen=True)
class GateWarning:
    key: str  # what the approver acknowledges: "<gate>:<rule>:<address>"
    gate: str
    rule: str
    message: str
    address: str
    severity: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "gate": self.gate,
            "rule": self.rule,
            "message": self.message,
            "address": self.address,
            "severity": self.severity,
        }


def warning_key(gate: str, finding: dict[str, Any]) -> str:
    return f"{gate}:{finding.get('rule', '')}:{finding.get('address', '')}"


def warnings_to_acknowledge(run: Run, gates: Iterable[GateResult] | None = None) -> list[GateWarning]:
    """Every non-blocking finding of the run's gates, in gate order (duplicates folded). Pass `gates`
    (in order) when the caller has already read them."""
    seen: dict[str, GateWarning] = {}
    if gates is None:
        gates = GateResult.objects.filter(run=run).order_by("order")
    for gate in gates:
        for finding in gate.findings or []:
            if finding.get("blocking", True):
                continue
            key = warning_key(gate.name, finding)
            seen.setdefault(
                key,
                GateWarning(
                    key=key,
                    gate=gate.name,
                    rule=str(finding.get("rule", "")),
                    message=str(finding.get("message", "")),
                    address=str(finding.get("address", "")),
                    severity=str(finding.get("severity", "")),
                ),
            )
    return list(seen.values())


def live_approvals(run: Run):
    return Approval.objects.filter(
        run=run, decision=ApprovalDecision.APPROVE, voided_at__isnull=True, plan_sha256=run.plan_sha256
    )


def staleness(run: Run) -> list[str]:
    """Why the run no longer matches what was planned (config edited since); empty when it still does."""
    reasons = []
    current = type(run.config).objects.filter(pk=run.config_id).values_list("version", flat=True).first()
    if current != run.config_version:
        reasons.append(
            f"config {run.config.name} changed (planned with v{run.config_version}, now v{current})"
        )
    return reasons


def run_approve(
    *,
    user,
    run_id: int,
    decision: str = ApprovalDecision.APPROVE,
    comment: str = "",
    change_ticket: str = "",
    acknowledged_warnings: list[str] | tuple[str, ...] = (),
    plan_sha256: str | None = None,
) -> Approval:
    """Record `user`'s decision on run `run_id`; see the module docstring for the rules.

    `plan_sha256` (optional) is the plan the approver looked at: a different current plan is refused.
    Approving twice is idempotent (the first approval is returned). Raises RunStale after moving the run to
    `stale` when its config changed since the plan.
    """
    stale: list[str] = []
    with transaction.atomic():
        run = _load(user, run_id, "run.approve")
        result = _decide(
            run,
            user=user,
            decision=decision,
            comment=comment,
            change_ticket=change_ticket,
            acknowledged=list(acknowledged_warnings or ()),
            plan_sha256=plan_sha256,
            stale=stale,
        )
    if stale:
        raise RunStale(stale)
    return result


def _decide(
    run: Run,
    *,
    user,
    decision: str,
    comment: str,
    change_ticket: str,
    acknowledged: list[str],
    plan_sha256: str | None,
    stale: list[str],
) -> Approval | None:
    if decision not in ApprovalDecision.values:
        raise ValidationError({"decision": f"Unknown decision {decision!r}."})
    if run.status != S.AWAITING_APPROVAL:
        existing = Approval.objects.filter(
            run=run, approver=user, plan_sha256=run.plan_sha256, voided_at__isnull=True, decision=decision
        ).first()
        if existing is not None:
            return existing  # a double click after the run moved on
        target = S.APPROVED if decision == ApprovalDecision.APPROVE else S.REJECTED
        raise IllegalTransition(run.status, target, reason="this run is not awaiting approval")
    if run.tenant.forbid_self_approval and run.requested_by_id == user.pk:
        raise PermissionDenied("You requested this run; someone else has to approve it.")
    if plan_sha256 is not None and plan_sha256 != run.plan_sha256:
        raise ValidationError({"plan_sha256": "The plan changed since you opened it; review it again."})
    if not run.plan_sha256:
        raise ValidationError("This run has no plan to approve.")

    existing = Approval.objects.filter(
        run=run, approver=user, plan_sha256=run.plan_sha256, voided_at__isnull=True
    ).first()
    if existing is not None:
        if existing.decision != decision:
            raise ValidationError(f"You already decided on this plan ({existing.decision}).")
        return existing

    reasons = staleness(run)
    if reasons:
        transition(
            run.pk,
            S.STALE,
            actor=user,
            message="; ".join(reasons),
            data={"reasons": reasons},
            expect_from=S.AWAITING_APPROVAL,
        )
        stale.extend(reasons)
        return None

    comment = (comment or "").strip()
    change_ticket = (change_ticket or "").strip()
    acknowledged_keys: list[str] = []
    if decision == ApprovalDecision.REJECT:
        if not comment:
            raise ValidationError({"comment": "Say why you reject this plan."})
    else:
        if run_needs_ticket(run) and not change_ticket:
            raise ValidationError({"change_ticket": f"A change ticket is required for {run.config.env}."})
        expected = [w.key for w in warnings_to_acknowledge(run)]
        unknown = sorted(set(acknowledged) - set(expected))
        if unknown:
            raise ValidationError(
                {"acknowledged_warnings": f"Not warnings of this plan: {', '.join(unknown)}"}
            )
        missing = [key for key in expected if key not in set(acknowledged)]
        if missing:
            raise ValidationError(
                {"acknowledged_warnings": f"Acknowledge each warning before approving: {', '.join(missing)}"}
            )
        acknowledged_keys = expected

    try:
        with transaction.atomic():
            approval = Approval.objects.create(
                tenant_id=run.tenant_id,
                run=run,
                approver=user,
                decision=decision,
                comment=comment,
                change_ticket=change_ticket,
                plan_sha256=run.plan_sha256,
                spec_sha256=run.spec_sha256,
                source_sha256=run.source_sha256,
                config_version=run.config_version or 0,
                gate_digest=run.gate_digest,
                acknowledged_warnings=acknowledged_keys,
            )
    except IntegrityError:
        # Only reachable when the row lock is not honoured (SQLite ignores FOR UPDATE): the database
        # constraint still keeps one live decision per approver and plan.
        return Approval.objects.get(
            run=run, approver=user, plan_sha256=run.plan_sha256, voided_at__isnull=True
        )
    audit_record(
        tenant=run.tenant,
        action=f"run.approval.{decision}",
        actor=user,
        target=run,
        summary=f"{getattr(user, 'email', user)} {'approved' if decision == 'approve' else 'rejected'} run #{run.pk}",
        data={
            "approval": approval.pk,
            "plan_sha256": approval.plan_sha256,
            "spec_sha256": approval.spec_sha256,
            "source_sha256": approval.source_sha256,
            "config_version": approval.config_version,
            "gate_digest": approval.gate_digest,
            "change_ticket": change_ticket,
            "acknowledged_warnings": acknowledged_keys,
        },
    )
    if decision == ApprovalDecision.REJECT:
        transition(
            run.pk,
            S.REJECTED,
            actor=user,
            message=comment[:500],
            data={"approval": approval.pk},
            expect_from=S.AWAITING_APPROVAL,
        )
        return approval
    count = live_approvals(run).count()
    if count >= run.approvals_required:
        transition(
            run.pk,
            S.APPROVED,
            actor=user,
            message=f"{count} of {run.approvals_required} approval(s)",
            data={"approvals": list(live_approvals(run).values_list("pk", flat=True))},
            expect_from=S.AWAITING_APPROVAL,
        )
    return approval


def run_reject(*, user, run_id: int, comment: str) -> Approval:
    return run_approve(user=user, run_id=run_id, decision=ApprovalDecision.REJECT, comment=comment)


def approvals_void(*, run: Run, reason: str) -> int:
    """Void every live approval of `run` (inside the caller's transaction)."""
    return Approval.objects.filter(run=run, voided_at__isnull=True).update(
        voided_at=timezone.now(), void_reason=reason[:500]
    )
