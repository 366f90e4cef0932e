"""The run lifecycle from DESIGN.md as one table. `runs.services.transition` is the only writer.

    queued → generating → validating → planning → policy_check → awaiting_approval → approved → applying → applied

Ends: no_changes, nothing_to_do, blocked, failed, rejected, cancelled, expired, superseded, stale,
interrupted.
`needs_clarification` waits for the requester's answers before `queued`.
"""

from __future__ import annotations

from django.db import models


class RunStatus(models.TextChoices):
    NEEDS_CLARIFICATION = "needs_clarification", "Needs clarification"
    QUEUED = "queued", "Queued"
    GENERATING = "generating", "Generating"
    VALIDATING = "validating", "Validating"
    PLANNING = "planning", "Planning"
    POLICY_CHECK = "policy_check", "Policy check"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Applied"
    NO_CHANGES = "no_changes", "No changes"
    NOTHING_TO_DO = "nothing_to_do", "Nothing to do"  # the targets resolved to none
    BLOCKED = "blocked", "Blocked"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    SUPERSEDED = "superseded", "Superseded"
    STALE = "stale", "Stale"
    INTERRUPTED = "interrupted", "Interrupted"


S = RunStatus

# The happy path, in order.
MAIN_LINE: tuple[str, ...] = (
    S.QUEUED,
    S.GENERATING,
    S.VALIDATING,
    S.PLANNING,
    S.POLICY_CHECK,
    S.AWAITING_APPROVAL,
    S.APPROVED,
    S.APPLYING,
    S.APPLIED,
)

END_STATES: frozenset[str] = frozenset(
    {
        S.APPLIED,
        S.NO_CHANGES,
        S.NOTHING_TO_DO,
        S.BLOCKED,
        S.FAILED,
        S.REJECTED,
        S.CANCELLED,
        S.EXPIRED,
        S.SUPERSEDED,
        S.STALE,
        S.INTERRUPTED,
    }
)

# A worker is (or should be) busy with the run: the heartbeat applies and the reconciler watches.
PLAN_STAGES: tuple[str, ...] = (S.GENERATING, S.VALIDATING, S.PLANNING, S.POLICY_CHECK)
IN_FLIGHT: frozenset[str] = frozenset({*PLAN_STAGES, S.APPLYING})

# Waiting on people.
AWAITING_PEOPLE: frozenset[str] = frozenset({S.NEEDS_CLARIFICATION, S.AWAITING_APPROVAL, S.APPROVED})

# Work stopped half-way by a worker failure or by cancellation. An apply in flight is not cancellable:
# stopping Terraform mid-apply orphans resources, so it finishes (or is interrupted by a lost worker).
_STOPPABLE = (S.FAILED, S.CANCELLED, S.INTERRUPTED)

TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEEDS_CLARIFICATION: frozenset({S.QUEUED, S.CANCELLED, S.SUPERSEDED}),
    S.QUEUED: frozenset({S.GENERATING, S.NEEDS_CLARIFICATION, S.CANCELLED, S.FAILED, S.SUPERSEDED}),
    S.GENERATING: frozenset({S.VALIDATING, S.NEEDS_CLARIFICATION, S.BLOCKED, *_STOPPABLE}),
    S.VALIDATING: frozenset({S.PLANNING, S.NOTHING_TO_DO, S.BLOCKED, *_STOPPABLE}),
    S.PLANNING: frozenset({S.POLICY_CHECK, S.NO_CHANGES, S.NOTHING_TO_DO, S.BLOCKED, *_STOPPABLE}),
    S.POLICY_CHECK: frozenset({S.AWAITING_APPROVAL, S.BLOCKED, *_STOPPABLE}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.STALE, S.CANCELLED, S.SUPERSEDED}),
    S.APPROVED: frozenset({S.APPLYING, S.STALE, S.EXPIRED, S.CANCELLED, S.SUPERSEDED}),
    S.APPLYING: frozenset({S.APPLIED, S.FAILED, S.INTERRUPTED}),
    **{end: frozenset() for end in END_STATES},
}

assert set(TRANSITIONS) == set(S.values), "every status has a row in the transition table"


class IllegalTransition(Exception):
    """The lifecycle does not allow this move (or the run is no longer where the caller expected)."""

    def __init__(self, from_status: str, to_status: str, *, reason: str = "") -> None:
        self.from_status, self.to_status = from_status, to_status
        allowed = ", ".join(sorted(TRANSITIONS.get(from_status, ()))) or "none: it has ended"
        detail = reason or f"allowed from {from_status}: {allowed}"
        super().__init__(f"A run cannot go from {from_status} to {to_status} ({detail}).")


def label(status: str) -> str:
    try:
        return RunStatus(status).label
    except ValueError:
        return status


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def check_transition(from_status: str, to_status: str) -> None:
    if to_status not in TRANSITIONS:
        raise IllegalTransition(from_status, to_status, reason=f"{to_status!r} is not a run status")
    if not can_transition(from_status, to_status):
        raise IllegalTransition(from_status, to_status)


def is_end(status: str) -> bool:
    return status in END_STATES


def precedes(a: str, b: str) -> bool:
    """True when `a` comes before `b` on the main line (both on it)."""
    return a in MAIN_LINE and b in MAIN_LINE and MAIN_LINE.index(a) < MAIN_LINE.index(b)
