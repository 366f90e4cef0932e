"""List rows built straight from `.values()`: the read-only fast path of the API's run and audit lists.

A list page of 50 runs through `RunSerializer` spends most of its time building model instances and
walking DRF fields; these functions produce the same JSON from plain dicts. `RunSerializer` and
`AuditEventSerializer` stay the schema's source of truth, and `runs/tests/test_api_rows.py` asserts that
both paths render every field identically.
"""

from __future__ import annotations

from django.db.models import QuerySet

from portal.api.serializers import datetime_renderer
from runs.api.serializers import AuditEventSerializer
from runs.states import is_end

# What a run list row reads: no large JSON or text columns (intent, spec, logs, outputs).
RUN_COLUMNS = (
    "id", "status", "kind", "request_text", "config_id", "config__name", "config__env",
    "requested_by__email", "agent", "parser", "replaces_id", "parent_id", "has_changes", "plan_summary",
    "cost_estimate", "approvals_required", "approval_deadline", "apply_requested_at", "error",
    "error_category", "created_at", "updated_at", "finished_at",
)  # fmt: skip

# An audit event's fields are all plain columns: the row is the serializer's field list, read as is.
AUDIT_EVENT_COLUMNS = tuple(AuditEventSerializer.Meta.fields)


def run_values(runs: QuerySet) -> QuerySet:
    """The runs as dicts of RUN_COLUMNS (the config and requester joined in the same query)."""
    return runs.select_related(None).values(*RUN_COLUMNS)


def run_rows(page: list[dict]) -> list[dict]:
    """Runs (dicts of RUN_COLUMNS) as `RunSerializer` renders them."""
    dt = datetime_renderer()
    return [
        {
            "id": v["id"],
            "status": v["status"],
            "finished": is_end(v["status"]),
            "kind": v["kind"],
            "request_text": v["request_text"],
            "config": {"id": v["config_id"], "name": v["config__name"], "env": v["config__env"]},
            "requested_by": v["requested_by__email"],
            "agent": v["agent"],
            "parser": v["parser"],
            "replaces": v["replaces_id"],
            "parent": v["parent_id"],
            "has_changes": v["has_changes"],
            "plan_summary": v["plan_summary"],
            "cost_estimate": v["cost_estimate"],
            "approvals_required": v["approvals_required"],
            "approval_deadline": dt(v["approval_deadline"]),
            "apply_requested_at": dt(v["apply_requested_at"]),
            "error": v["error"],
            "error_category": v["error_category"],
            "created_at": dt(v["created_at"]),
            "updated_at": dt(v["updated_at"]),
            "finished_at": dt(v["finished_at"]),
        }
        for v in page
    ]


def audit_event_values(events: QuerySet) -> QuerySet:
    return events.select_related(None).values(*AUDIT_EVENT_COLUMNS)


def audit_event_rows(page: list[dict]) -> list[dict]:
    """Audit events (dicts of AUDIT_EVENT_COLUMNS) as `AuditEventSerializer` renders them."""
    dt = datetime_renderer()
    return [{**v, "created_at": dt(v["created_at"])} for v in page]
