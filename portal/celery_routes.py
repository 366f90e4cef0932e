"""Celery queues, task routes and the beat schedule, imported by `portal.settings`.

Queues: `agents` (request understanding and generation), `plan` (render, gates, terraform plan), `apply`
(terraform apply only: give it its own workers with deploy credentials), `default` (notifications,
webhooks, tenant tasks, the reconciler, the drift sweep).

    celery -A portal worker -Q agents,default
    celery -A portal worker -Q plan
    celery -A portal worker -Q apply --concurrency 1
    celery -A portal beat
"""

from __future__ import annotations

import os

CELERY_TASK_QUEUE_NAMES = ("default", "agents", "plan", "apply")

CELERY_TASK_ROUTES = {
    "runs.run_generate": {"queue": "agents"},
    "runs.run_plan": {"queue": "plan"},
    "runs.run_apply": {"queue": "apply"},
    "runs.run_notify": {"queue": "default"},
    "runs.webhook_deliver": {"queue": "default"},
    "runs.runs_reconcile": {"queue": "default"},
    "runs.drift_sweep": {"queue": "default"},
}

CELERY_BEAT_SCHEDULE = {
    "runs-reconcile": {
        "task": "runs.runs_reconcile",
        "schedule": float(os.environ.get("GANTRY_RECONCILE_SECONDS", "60")),
        "options": {"queue": "default", "expires": 55},
    },
    # Looks for applied stacks whose drift check is due; how often each one is checked is per
    # environment (GANTRY_DRIFT_CHECK_HOURS, see runs.drift), this is only how often beat looks.
    "runs-drift-sweep": {
        "task": "runs.drift_sweep",
        "schedule": float(os.environ.get("GANTRY_DRIFT_SWEEP_SECONDS", "900")),
        "options": {"queue": "default", "expires": 600},
    },
}
