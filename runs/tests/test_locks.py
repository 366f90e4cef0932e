"""Workspace locks: an INSERT on a unique key; busy is the database's answer."""

from __future__ import annotations

import pytest

from runs import locks
from runs.models import WorkspaceLock
from runs.states import RunStatus
from runs.tests.factories import RunFactory

S = RunStatus


def test_one_holder_per_workspace(own, other):
    first, second = RunFactory(config=own.dev), RunFactory(config=own.dev)
    lock = locks.acquire(first)
    assert lock.run == first and locks.acquire(first).pk == lock.pk  # re-entrant for its holder
    with pytest.raises(locks.WorkspaceBusy, match=f"run #{first.pk}"):
        locks.acquire(second)
    locks.acquire(RunFactory(config=own.prod))  # another workspace
    locks.acquire(RunFactory(config=other.dev))  # another tenant, even with a similar name
    assert locks.release_for_run(first)
    assert locks.acquire(second).run == second


def test_flagged_lock_is_kept_until_force_unlocked(own):
    run = RunFactory(config=own.dev)
    locks.acquire(run)
    assert locks.flag_for_run(run, "worker lost", terraform_lock_id="abc")
    assert not locks.release_for_run(run)
    lock = WorkspaceLock.objects.get()
    assert lock.flagged and lock.terraform_lock_id == "abc"
    with pytest.raises(locks.WorkspaceBusy, match="flagged"):
        locks.acquire(run)  # not even its own run gets past a flagged lock
    with pytest.raises(locks.WorkspaceBusy):
        locks.acquire(RunFactory(config=own.dev))


def test_purpose_follows_the_holder(own):
    run = RunFactory(config=own.dev)
    locks.acquire(run, purpose="plan")
    assert locks.acquire(run, purpose="apply").purpose == "apply"
    assert WorkspaceLock.objects.get().purpose == "apply"
