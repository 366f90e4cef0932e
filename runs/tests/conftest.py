"""Run tests: tasks are recorded instead of sent, the heartbeat thread is off (tests beat by hand)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def sent(monkeypatch, settings, tmp_path):
    """Every task the code would enqueue, as (name, kwargs); nothing reaches a broker."""
    from runs import tasks

    calls: list[tuple[str, dict]] = []

    def record(name, **kwargs):
        calls.append((name, kwargs))

    monkeypatch.setattr(tasks, "dispatch", record)
    monkeypatch.setattr(tasks, "dispatch_webhook", lambda **kw: calls.append(("webhook", kw)))
    settings.GANTRY_HEARTBEAT_SECONDS = 0
    settings.GANTRY_WORK_ROOT = tmp_path / "work"
    settings.GANTRY_APPROVALS_REQUIRED = {"prod": 2, "dev": 1}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return calls
