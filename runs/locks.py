"""Workspace locks: one plan or apply per Terraform workspace at a time.

A lock is a row whose `workspace_key` is unique, so taking it is an INSERT and "busy" is the database's
IntegrityError; there is no check-then-act window. Locks are released when a run reaches an end state (or
hands over to people at awaiting_approval) and *kept and flagged* when a worker is lost mid-stage, because
Terraform's own state lock (and possibly half-written state) may still be there. Only an admin's
`workspace_force_unlock` (runs.services) clears a flagged lock.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Run, WorkspaceLock


class WorkspaceBusy(Exception):
    def __init__(self, lock: WorkspaceLock | None, workspace_key: str) -> None:
        self.lock = lock
        holder = f"run #{lock.run_id}" if lock is not None else "another run"
        flagged = " (flagged: needs an admin)" if lock is not None and lock.flagged else ""
        super().__init__(f"Workspace {workspace_key} is busy with {holder}{flagged}.")


def workspace_key_for(config) -> str:
    """Globally unique name of a config's Terraform workspace."""
    return f"{config.tenant_id}/{config.workspace}"


def holder(workspace_key: str) -> WorkspaceLock | None:
    return WorkspaceLock.objects.filter(workspace_key=workspace_key).first()


def acquire(run: Run, *, purpose: str = "plan") -> WorkspaceLock:
    """Take the run's workspace lock, or raise WorkspaceBusy. Re-entrant for the run that holds it."""
    try:
        with transaction.atomic():
            return WorkspaceLock.objects.create(
                tenant_id=run.tenant_id, workspace_key=run.workspace_key, run=run, purpose=purpose
            )
    except IntegrityError:
        current = holder(run.workspace_key)
        if current is not None and current.run_id == run.pk and not current.flagged:
            if current.purpose != purpose:
                WorkspaceLock.objects.filter(pk=current.pk).update(purpose=purpose)
                current.purpose = purpose
            return current
        raise WorkspaceBusy(current, run.workspace_key) from None


def release_for_run(run: Run) -> bool:
    """Release the run's lock unless it is flagged. True when a lock was released."""
    deleted, _ = WorkspaceLock.objects.filter(run=run, flagged=False).delete()
    return bool(deleted)


def flag_for_run(run: Run, reason: str, *, terraform_lock_id: str = "") -> bool:
    """Keep the run's lock and mark it for an admin's attention. True when the run held one."""
    fields = {"flagged": True, "flag_reason": reason[:500], "flagged_at": timezone.now()}
    if terraform_lock_id:
        fields["terraform_lock_id"] = terraform_lock_id
    return bool(WorkspaceLock.objects.filter(run=run).update(**fields))


def held_by(run: Run) -> WorkspaceLock | None:
    return WorkspaceLock.objects.filter(run=run).first()
