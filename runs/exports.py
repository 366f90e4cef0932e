"""Streamed CSV exports of the audit search: exactly the filtered rows, in constant memory.

Rows are read with a server-side cursor (`.iterator(chunk_size=…)`), related rows are prefetched one
chunk at a time, and the CSV is yielded in blocks, so a million-row export holds only one chunk in
memory. Cells are neutralised against CSV/formula injection and free text goes through the redactor.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Prefetch, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.urls import NoReverseMatch, reverse

from iac.pricing.money import fmt
from iac.redaction import redact

from .models import Approval, Artifact, AuditEvent, GateResult, Run

CHUNK_SIZE = 2000  # rows per database round trip (and per prefetch batch)
BLOCK_ROWS = 500  # rows per yielded block of CSV text
BOM = "\ufeff"  # so spreadsheet programs read the file as UTF-8 (₹, €, names)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

RUN_COLUMNS = [
    "request_id",
    "tenant",
    "user",
    "timestamp",
    "config",
    "request",
    "intent",
    "agent",
    "status",
    "approvals",
    "execution_log",
    "cost_impact",
    "gate_results",
    "artifacts",
]
EVENT_COLUMNS = [
    "event_id",
    "tenant",
    "timestamp",
    "user",
    "action",
    "object_type",
    "object_id",
    "summary",
    "request_id",
    "ip_address",
    "data",
    "chain_seq",
    "hash",
]


def safe_cell(value):
    """A cell a spreadsheet will not evaluate: text starting with = + - @ (or a tab/CR) gets a leading
    apostrophe, the convention spreadsheet programs display as literal text. Numbers pass through (a
    negative number is not a formula)."""
    if value is None:
        return ""
    if value.__class__ is str and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_blocks(header: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    """Encode rows as CSV, yielding a block every BLOCK_ROWS rows (fewer, larger writes)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow(header)
    pending = 0
    for row in rows:
        # safe_cell, inlined: this line runs once per cell of a million-row export (csv writes None as "")
        writer.writerow(
            ["'" + c if c.__class__ is str and c.startswith(FORMULA_TRIGGERS) else c for c in row]
        )
        pending += 1
        if pending >= BLOCK_ROWS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


REDACT_SEPARATOR = "\x00"  # in no secret pattern's reach, so it survives redaction unchanged
REDACT_BATCH = 500


def redact_many(texts: list[str]) -> list[str]:
    """Redact many cells in one pass of the redactor (its cost is mostly per call, not per character).
    If a pattern ever reached across a separator, the batch falls back to one call per cell."""
    if not texts:
        return texts
    parts = redact(REDACT_SEPARATOR.join(texts)).split(REDACT_SEPARATOR)
    return parts if len(parts) == len(texts) else [redact(text) for text in texts]


def redacted(rows: Iterable[list], columns: tuple[int, ...]) -> Iterator[list]:
    """Rows with the free-text `columns` redacted, a batch of rows at a time."""
    batch: list[list] = []

    def flush() -> list[list]:
        cleaned = iter(redact_many([str(row[c] or "") for row in batch for c in columns]))
        for row in batch:
            for c in columns:
                row[c] = next(cleaned)
        return batch

    for row in rows:
        batch.append(row)
        if len(batch) >= REDACT_BATCH:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def path_builder(name: str, documented: str) -> Callable[[int], str]:
    """`pk -> path` for a route owned by another page, reversed once (not per row). Falls back to the
    documented path when the route is not installed (an export must never fail over a link)."""
    try:
        marker = reverse(name, args=[987654321])
    except NoReverseMatch:
        marker = documented.format(987654321)
    head, _, tail = marker.partition("987654321")
    return lambda pk: f"{head}{pk}{tail}"


# --- runs --------------------------------------------------------------------------------------------


def cost_impact(estimate: dict) -> str:
    """`₹1,234.00/month added` from a run's cost estimate, in the currency it was checked in. Worded,
    not signed, so the cell never starts with + or - (which the injection guard would have to escape)."""
    totals = (estimate or {}).get("totals") or {}
    currency = (estimate or {}).get("currency") or "USD"
    monthly = totals.get("monthly_usd") if currency == "USD" else totals.get("monthly")
    if monthly is None:
        return ""
    amount = Decimal(str(monthly))
    if not amount:
        return "no change"
    return f"{fmt(abs(amount), currency)}/month {'added' if amount > 0 else 'removed'}"


def approvals_cell(approvals: Iterable[Approval]) -> str:
    parts = []
    for approval in approvals:
        who = approval.approver.email if approval.approver_id else "?"
        text = f"{approval.decision} by {who} at {_iso(approval.created_at)}"
        if approval.change_ticket:
            text += f" ticket {approval.change_ticket}"
        if approval.acknowledged_warnings:
            text += f" acknowledged {len(approval.acknowledged_warnings)} warning(s)"
        if approval.voided_at:
            text += " (voided)"
        parts.append(text)
    return "; ".join(parts)


def gates_cell(gates: Iterable[GateResult]) -> str:
    return "; ".join(
        f"{gate.name}:{gate.status}" + (f" ({len(gate.findings)} finding(s))" if gate.findings else "")
        for gate in gates
    )


def export_runs_queryset(runs: QuerySet[Run]) -> QuerySet[Run]:
    """The filtered runs with only what the CSV needs, and their approvals, gates and artifacts
    prefetched per chunk."""
    return (
        runs.select_related(None)
        .select_related("tenant", "config", "requested_by")
        .only(
            "id",
            "created_at",
            "request_text",
            "intent",
            "agent",
            "status",
            "cost_estimate",
            "tenant__slug",
            "config__name",
            "requested_by__email",
        )
        .prefetch_related(
            # to_attr: plain lists, so no per-run queryset is built when the row reads them
            Prefetch(
                "approvals",
                queryset=Approval.objects.select_related("approver").order_by("created_at"),
                to_attr="export_approvals",
            ),
            Prefetch(
                "gate_results",
                queryset=GateResult.objects.only(
                    "id", "run_id", "name", "status", "findings", "order"
                ).order_by("order"),
                to_attr="export_gates",
            ),
            Prefetch(
                "artifacts",
                queryset=Artifact.objects.only("id", "run_id", "kind").order_by("kind", "id"),
                to_attr="export_artifacts",
            ),
        )
    )


def run_rows(runs: QuerySet[Run], *, absolute: Callable[[str], str] = str) -> Iterator[list]:
    run_path = path_builder("run_detail", "/runs/{}/")
    artifact_path = path_builder("artifact_download", "/artifacts/{}/download")
    for run in export_runs_queryset(runs).iterator(chunk_size=CHUNK_SIZE):
        yield [
            run.pk,
            run.tenant.slug,
            run.requested_by.email if run.requested_by_id else "",
            _iso(run.created_at),
            run.config.name,
            run.request_text,
            json.dumps(run.intent, sort_keys=True, ensure_ascii=False) if run.intent else "",
            run.agent,
            run.status,
            approvals_cell(run.export_approvals),
            absolute(run_path(run.pk)),
            cost_impact(run.cost_estimate),
            gates_cell(run.export_gates),
            " ".join(f"{a.kind}={absolute(artifact_path(a.pk))}" for a in run.export_artifacts),
        ]


def runs_csv(runs: QuerySet[Run], *, absolute: Callable[[str], str] = str) -> Iterator[bytes]:
    free_text = (RUN_COLUMNS.index("request"),)
    return csv_blocks(RUN_COLUMNS, redacted(run_rows(runs, absolute=absolute), free_text))


# --- audit events ------------------------------------------------------------------------------------


def event_rows(events: QuerySet[AuditEvent]) -> Iterator[list]:
    """Plain tuples, not model instances (a million rows), with the JSON read as text as stored."""
    rows = (
        events.order_by("-created_at", "-id")
        .annotate(data_text=Cast("data", TextField()))
        .values_list(
            "id",
            "tenant__slug",
            "created_at",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "summary",
            "request_id",
            "ip_address",
            "data_text",
            "seq",
            "hash",
        )
    )
    for pk, tenant, created, actor, action, otype, oid, summary, req, ip, data, seq, digest in rows.iterator(
        chunk_size=CHUNK_SIZE
    ):
        yield [
            pk,
            tenant,
            created.isoformat(),
            actor,
            action,
            otype,
            oid,
            summary,
            req,
            ip or "",
            data if data != "{}" else "",
            seq,
            digest,
        ]


def events_csv(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    free_text = (EVENT_COLUMNS.index("summary"), EVENT_COLUMNS.index("data"))
    return csv_blocks(EVENT_COLUMNS, redacted(event_rows(events), free_text))


# --- the response ------------------------------------------------------------------------------------


async def pulled(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Serve a sync generator from ASGI one block at a time. (Django would otherwise collect a sync
    iterator into a list before sending it, which defeats streaming.) thread_sensitive keeps every pull,
    and so the server-side cursor, on the same thread and database connection."""
    done = object()
    pull = sync_to_async(lambda: next(chunks, done), thread_sensitive=True)
    while (block := await pull()) is not done:
        yield block


def csv_response(request, chunks: Iterator[bytes], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download that stays streamed under ASGI and WSGI alike (`request` may be Django's or
    DRF's, which wraps it)."""
    asgi = isinstance(getattr(request, "_request", request), ASGIRequest)
    body = pulled(chunks) if asgi else chunks
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response
