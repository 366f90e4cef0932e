"""Streamed CSV exports of the audit search: exactly the filtered rows, in constant memory.

Rows are read as plain tuples through a server-side cursor (`.values_list().iterator(chunk_size=…)`),
a run's approvals, gates and artifacts are fetched once per chunk, and the CSV is yielded one block of
rows at a time, so a million-row export holds only one block in memory. Each block is processed a
column at a time: free text goes through the redactor in one pass per column, every column through the
CSV/formula-injection guard and the CSV encoding, and the rows are joined with `str.join`. That keeps the
per-row Python work small enough for the >= 50,000 rows/s the audit export is held to (bench/audit_scale.py).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.db.models import Expression, F, Func, QuerySet, TextField, Value
from django.db.models.functions import Cast, NullIf
from django.http import StreamingHttpResponse
from django.urls import NoReverseMatch, reverse

from iac.pricing.money import fmt
from iac.redaction import redact

from . import export_cells_sql as cells
from .export_cells_sql import JsonArrayLength
from .models import Approval, Artifact, AuditEvent, GateResult, Run

CHUNK_SIZE = 5000  # rows per round trip of the server-side cursor
BLOCK_ROWS = 2000  # rows per yielded block of CSV (a few hundred KB), per redaction pass and per
# fetch of a block of runs' approvals, gates and artifacts
BOM = "\ufeff"  # so spreadsheet programs read the file as UTF-8 (₹, €, names)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A trigger right after the NUL that joins a column's cells (one scan, driven by the literal NUL).
_TRIGGER_AT_CELL_START = re.compile("\x00[" + re.escape("".join(FORMULA_TRIGGERS)) + "]")

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


def chunked(rows: Iterable[Sequence], size: int) -> Iterator[list[Sequence]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def neutralised(column: Sequence) -> Sequence:
    """The column with every formula-looking text cell escaped (`safe_cell`). Most columns have none,
    which one scan of the column's text joined by NUL shows, so they come back as they are. (A NUL then
    a trigger inside a cell is a false hit that only costs the exact per-cell pass.)"""
    try:
        joined = "\x00" + "\x00".join(column)
    except TypeError:  # numbers or NULLs among the cells, which are never escaped
        joined = "\x00" + "\x00".join([c for c in column if c.__class__ is str])
    if not _TRIGGER_AT_CELL_START.search(joined):
        return column
    return [safe_cell(c) for c in column]


REDACT_SEPARATOR = "\x00"  # in no secret pattern's reach, so it survives redaction unchanged


def redact_many(texts: Sequence[str | None]) -> list[str]:
    """Redact many cells in one pass of the redactor (its cost is mostly per call and per pattern pass,
    not per cell). If a pattern ever reached across a separator, the cells are redacted one by one."""
    texts = [text if text.__class__ is str else str(text or "") for text in texts]
    if not texts:
        return texts
    parts = redact(REDACT_SEPARATOR.join(texts)).split(REDACT_SEPARATOR)
    return parts if len(parts) == len(texts) else [redact(text) for text in texts]


def iso_timestamps(column: Sequence[datetime | None]) -> list[str]:
    return [moment.isoformat() if moment else "" for moment in column]


ColumnFormat = Callable[[Sequence], Sequence]


# What makes the csv module (QUOTE_MINIMAL, the default dialect) quote a cell.
_NEEDS_QUOTES = re.compile('[",\r\n]')


def as_text(column: Sequence) -> Sequence[str]:
    """The column's cells as the csv module writes them: NULL as empty, numbers through `str`."""
    if set(map(type, column)) <= {str}:
        return column
    return ["" if cell is None else cell if cell.__class__ is str else str(cell) for cell in column]


def csv_quoted(column: Sequence[str]) -> Sequence[str]:
    """The column's cells CSV-encoded exactly as `csv.writer` does: a cell holding a comma, a quote or a
    line break is wrapped in quotes with its quotes doubled. Most columns hold none, which one scan of
    the joined column shows."""
    needs_quotes = _NEEDS_QUOTES.search
    if not needs_quotes("".join(column)):
        return column
    return ['"' + cell.replace('"', '""') + '"' if needs_quotes(cell) else cell for cell in column]


def csv_block(columns: Sequence[Sequence]) -> str:
    """Rows given column by column, as CSV text (CRLF line ends, like `csv.writer`). Encoding a column
    at a time and joining rows with `str.join` is about three times faster than `csv.writer.writerows`,
    which examines every character of every cell (a million-row export spends most of its time there).
    A lone empty cell is quoted as the csv module does, so that the row is not read as blank."""
    encoded = [csv_quoted(as_text(neutralised(column))) for column in columns]
    lines = list(map(",".join, zip(*encoded, strict=True)))
    if len(encoded) == 1:
        lines = [line or '""' for line in lines]
    return "\r\n".join(lines) + "\r\n" if lines else ""


def csv_stream(
    header: list[str], chunks: Iterable[Sequence[Sequence]], formats: dict[int, ColumnFormat]
) -> Iterator[bytes]:
    """CSV bytes, one block per chunk of rows. Each chunk is handled a column at a time (`formats`, e.g.
    redaction of free text, then the injection guard and the CSV encoding of every column): the per-row
    work left in Python is what `zip` and `str.join` do in C."""
    head = BOM + csv_block([[name] for name in header])
    for chunk in chunks:
        columns = list(zip(*chunk, strict=True))
        for index, format_column in formats.items():
            columns[index] = format_column(columns[index])
        yield (head + csv_block(columns)).encode()
        head = ""
    if head:  # no rows: the header alone
        yield head.encode()


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


# A run's related rows as plain tuples, run id first, in the order they are listed in their cells.
APPROVAL_CELL = (
    Approval.objects.order_by("created_at", "id")
    .annotate(acknowledged=JsonArrayLength("acknowledged_warnings"))
    .values_list(
        "run_id", "decision", "approver__email", "created_at", "change_ticket", "acknowledged", "voided_at"
    )
)
GATE_CELL = (
    GateResult.objects.order_by("order", "id")
    .annotate(finding_count=JsonArrayLength("findings"))
    .values_list("run_id", "name", "status", "finding_count")
)
ARTIFACT_CELL = Artifact.objects.order_by("kind", "id").values_list("run_id", "id", "kind")


def approvals_cell(approvals: Iterable[tuple]) -> str:
    parts = []
    for decision, email, created, ticket, acknowledged, voided in approvals:
        text = f"{decision} by {'?' if email is None else email} at {_iso(created)}"
        if ticket:
            text += f" ticket {ticket}"
        if acknowledged:
            text += f" acknowledged {acknowledged} warning(s)"
        if voided:
            text += " (voided)"
        parts.append(text)
    return "; ".join(parts)


def gates_cell(gates: Iterable[tuple]) -> str:
    return "; ".join(
        f"{name}:{status}" + (f" ({findings} finding(s))" if findings else "")
        for name, status, findings in gates
    )


# What a run's row reads from the run itself, as plain tuples (model instances with three joined
# relations cost most of the export's time).
RUN_FIELDS = ("id", "tenant__slug", "requested_by__email", "created_at", "config__name", "request_text",
              "intent", "agent", "status", "cost_estimate")  # fmt: skip


def by_run(related: QuerySet, run_ids: list[int]) -> defaultdict[int, list[tuple]]:
    """`related` rows (tuples, run id first) of a block of runs, grouped by run id in the queryset's
    order, without the run id: what prefetch_related does, without model instances."""
    grouped: defaultdict[int, list[tuple]] = defaultdict(list)
    for row in related.filter(run_id__in=run_ids):
        grouped[row[0]].append(row[1:])
    return grouped


def run_chunks(
    runs: QuerySet[Run], *, absolute: Callable[[str], str] = str, in_sql: bool | None = None
) -> Iterator[list[list]]:
    """Blocks of RUN_COLUMNS rows. On PostgreSQL (`in_sql`, the default there) each run arrives with its
    approvals, gates and artifacts cells and its timestamp already written by the database
    (`runs.export_cells_sql`); elsewhere (SQLite in development, and the PostgreSQL test that compares
    both) the related rows are fetched once per block and joined here."""
    run_path = path_builder("run_detail", "/runs/{}/")
    artifact_path = path_builder("artifact_download", "/artifacts/{}/download")
    link_head, marker, link_tail = absolute(artifact_path(987654321)).partition("987654321")
    if in_sql is None:
        in_sql = connections[runs.db].vendor == "postgresql"
    if in_sql and marker:
        tuples = runs.annotate(
            export_timestamp=cells.UtcSeconds("created_at"),
            intent_text=NullIf(Cast("intent", TextField()), Value("{}", output_field=TextField())),
            approvals_cell=cells.approvals_cell_sql(),
            gates_cell=cells.gates_cell_sql(),
            artifacts_cell=cells.artifacts_cell_sql(link_head, link_tail),
        ).values_list(*RUN_FIELDS_IN_SQL)
        blocks = chunked(tuples.iterator(chunk_size=CHUNK_SIZE), BLOCK_ROWS)
        for block in postgres_blocks(blocks, runs.db):
            yield [_run_row(*row, absolute(run_path(row[0]))) for row in block]
        return
    for block in chunked(runs.values_list(*RUN_FIELDS).iterator(chunk_size=CHUNK_SIZE), BLOCK_ROWS):
        ids = [row[0] for row in block]
        run_approvals = by_run(APPROVAL_CELL, ids)
        run_gates = by_run(GATE_CELL, ids)
        run_artifacts = by_run(ARTIFACT_CELL, ids)
        yield [
            _run_row(
                pk,
                tenant,
                email,
                _iso(created),
                config,
                request_text,
                json.dumps(intent, sort_keys=True, ensure_ascii=False) if intent else "",
                agent,
                status,
                estimate,
                approvals_cell(run_approvals.get(pk, ())),
                gates_cell(run_gates.get(pk, ())),
                " ".join(f"{kind}={absolute(artifact_path(a))}" for a, kind in run_artifacts.get(pk, ())),
                absolute(run_path(pk)),
            )
            for pk, tenant, email, created, config, request_text, intent, agent, status, estimate in block
        ]


# The same, with the timestamp, the intent's JSON and the three related cells written by PostgreSQL (the
# intent as it stores it: jsonb's own key order, where the other path sorts the keys).
RUN_FIELDS_IN_SQL = (*RUN_FIELDS[:3], "export_timestamp", *RUN_FIELDS[4:6], "intent_text", *RUN_FIELDS[7:],
                     "approvals_cell", "gates_cell", "artifacts_cell")  # fmt: skip


def _run_row(
    pk, tenant, email, timestamp, config, request_text, intent_json, agent, status, estimate, approvals, gates,
    artifacts, log_link,
) -> list:  # fmt: skip
    """One RUN_COLUMNS row from a run's values and its already written cells."""
    return [
        pk,
        tenant,
        email or "",
        timestamp,
        config,
        request_text,
        intent_json or "",
        agent,
        status,
        approvals or "",
        log_link,
        cost_impact(estimate),
        gates or "",
        artifacts or "",
    ]


def runs_csv(
    runs: QuerySet[Run], *, absolute: Callable[[str], str] = str, in_sql: bool | None = None
) -> Iterator[bytes]:
    formats = {RUN_COLUMNS.index("request"): redact_many}
    return csv_stream(RUN_COLUMNS, run_chunks(runs, absolute=absolute, in_sql=in_sql), formats)


# --- audit events ------------------------------------------------------------------------------------


class UtcIsoformat(Func):
    """`datetime.isoformat()` of a timestamp in UTC (`2026-01-02T03:04:05.123456+00:00`, no fraction when
    it is zero), spelled by PostgreSQL: reading a million timestamps into Python datetimes and formatting
    them there was about a quarter of the export's CPU."""

    output_field = TextField()
    template = (
        "replace(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"
        " || '+00:00'"
    )


def event_timestamp(events: QuerySet[AuditEvent]) -> tuple[Expression, ColumnFormat | None]:
    """The timestamp column and the Python formatting it still needs: PostgreSQL formats it in the
    query; other databases (SQLite in development) return datetimes that are formatted per chunk."""
    if connections[events.db].vendor == "postgresql":
        return UtcIsoformat("created_at"), None
    return F("created_at"), iso_timestamps


def event_chunks(events: QuerySet[AuditEvent]) -> Iterator[list[tuple]]:
    """Chunks of plain tuples, not model instances (a million rows), in EVENT_COLUMNS order, with the
    JSON read as text as stored (an empty object as an empty cell)."""
    timestamp, _ = event_timestamp(events)
    rows = (
        events.order_by("-created_at", "-id")
        .annotate(
            export_timestamp=timestamp,
            data_text=NullIf(Cast("data", TextField()), Value("{}", output_field=TextField())),
        )
        .values_list(
            "id",
            "tenant__slug",
            "export_timestamp",
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
    blocks = chunked(rows.iterator(chunk_size=CHUNK_SIZE), BLOCK_ROWS)
    return postgres_blocks(blocks, events.db) if connections[events.db].vendor == "postgresql" else blocks


def postgres_blocks(blocks: Iterator[list], db: str) -> Iterator[list]:
    """An export's blocks on PostgreSQL: read ahead (below), with the JIT compiler off for the export's
    queries. A whole-table export costs far above `jit_above_cost`, and compiling its expressions took
    about a second before the first row, for nothing: the rows are produced once and streamed."""
    connection = connections[db]
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    try:
        yield from read_ahead(blocks)
    finally:
        with contextlib.suppress(Exception), connection.cursor() as cursor:  # a session that went away
            cursor.execute("RESET jit")


def read_ahead(blocks: Iterator[list]) -> Iterator[list]:
    """`blocks`, each next one read by a helper thread while the caller encodes the current one, so that
    PostgreSQL (another process, so another core) produces rows while Python writes CSV: the export
    then takes about the longer of the two instead of their sum.

    The first block is read here, so the server-side cursor opens on the caller's connection (the one
    that sees its transaction); the helper only pulls more rows from that cursor, never while the caller
    reads (one pull in flight, the caller waits for it before the next). On close (a client that goes
    away) the pull in flight is awaited before the cursor is closed, here."""
    from concurrent.futures import ThreadPoolExecutor, wait

    try:
        block = next(blocks, None)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gantry-export") as helper:
            while block is not None:
                pending = helper.submit(next, blocks, None)
                try:
                    yield block
                except GeneratorExit:
                    wait([pending])  # the helper is done with the cursor before it is closed
                    raise
                block = pending.result()
    finally:
        blocks.close()


def events_csv(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    formats: dict[int, ColumnFormat] = {
        EVENT_COLUMNS.index("summary"): redact_many,
        EVENT_COLUMNS.index("data"): redact_many,
    }
    _, format_timestamp = event_timestamp(events)
    if format_timestamp:
        formats[EVENT_COLUMNS.index("timestamp")] = format_timestamp
    return csv_stream(EVENT_COLUMNS, event_chunks(events), formats)


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
