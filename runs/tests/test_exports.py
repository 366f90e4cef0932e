"""The CSV export: injection-safe cells, every column, chunked prefetch across chunk boundaries."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runs import exports
from runs.audit import audit_record
from runs.models import Approval, Run
from runs.selectors import audit_events_for_user, audit_runs_for_user
from runs.tests.factories import RunFactory, planned_run

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (None, ""),
        (42, 42),
        (-5, -5),
        ("-5", "'-5"),
    ],
)
def test_safe_cell(value, expected):
    assert exports.safe_cell(value) == expected


def parse(chunks) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))


def test_run_rows_carry_every_column(own, monkeypatch):
    run = planned_run(own, gates=[{"name": "opa", "status": "warn", "summary": "", "findings": [{"r": 1}]}])
    Approval.objects.create(
        tenant=own.tenant, run=run, approver=own.user("approver"), decision="approve",
        plan_sha256="b" * 64, config_version=1, change_ticket="CHG-9", acknowledged_warnings=["opa:x"],
    )  # fmt: skip
    Run.objects.filter(pk=run.pk).update(
        agent="infra",
        intent={"action": "create"},
        cost_estimate={"currency": "INR", "totals": {"monthly": 1500, "monthly_usd": 18}},
    )
    rows = parse(
        exports.runs_csv(audit_runs_for_user(own.user("viewer")), absolute=lambda p: f"https://g{p}")
    )
    assert list(rows[0]) == exports.RUN_COLUMNS
    row = rows[0]
    assert row["request_id"] == str(run.pk) and row["tenant"] == own.tenant.slug
    assert row["user"] == own.user("operator").email and row["agent"] == "infra"
    assert "approve by " + own.user("approver").email in row["approvals"] and "CHG-9" in row["approvals"]
    assert row["execution_log"] == f"https://g/runs/{run.pk}/"
    assert row["cost_impact"] == "₹1,500.00/month added"
    assert row["gate_results"] == "opa:warn (1 finding(s))"
    assert "plan_file=https://g/artifacts/" in row["artifacts"]
    assert row["intent"] == '{"action": "create"}'


def test_prefetch_stays_correct_across_chunks(own, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 2)
    monkeypatch.setattr(exports, "BLOCK_ROWS", 3)
    runs = [RunFactory(config=own.dev, requested_by=own.user("operator")) for _ in range(5)]
    for run in runs:
        Approval.objects.create(
            tenant=own.tenant, run=run, approver=own.user("approver"), decision="approve",
            plan_sha256=f"{run.pk:064d}", config_version=1, change_ticket=f"T-{run.pk}",
        )  # fmt: skip
    chunks = list(exports.runs_csv(audit_runs_for_user(own.user("viewer"))))
    assert len(chunks) >= 2  # streamed in blocks, not one string
    rows = parse(chunks)
    assert [int(r["request_id"]) for r in rows] == sorted((r.pk for r in runs), reverse=True)
    assert all(f"T-{r['request_id']}" in r["approvals"] for r in rows)


def test_run_rows_without_requester_or_related_rows(own):
    """A run read as plain values: no requester, no approvals, gates or artifacts, no intent or estimate;
    its request text is redacted and then guarded against formula injection."""
    from iac.redaction import MASK, register_secret

    register_secret("sekrit-run-request-value")
    run = RunFactory(config=own.dev, requested_by=None, request_text="=open sekrit-run-request-value")
    row = parse(exports.runs_csv(audit_runs_for_user(own.user("viewer"))))[0]
    assert row["request_id"] == str(run.pk) and row["user"] == ""
    assert row["request"] == f"'=open {MASK}"
    assert row["approvals"] == row["gate_results"] == row["artifacts"] == row["intent"] == ""
    assert row["cost_impact"] == "" and row["timestamp"] == run.created_at.isoformat(timespec="seconds")


def test_event_rows_redact_and_keep_chain_fields(own):
    event = audit_record(
        tenant=own.tenant,
        action="note",
        summary="-rm",
        data={"secret_key": "x", "n": 1},
        actor=own.user("admin"),
    )
    rows = parse(exports.events_csv(audit_events_for_user(own.user("viewer"))))
    row = next(r for r in rows if r["event_id"] == str(event.pk))
    assert row["summary"] == "'-rm" and row["hash"] == event.hash and row["chain_seq"] == str(event.seq)
    assert row["timestamp"] == event.created_at.isoformat()
    assert '"n": 1' in row["data"]


def test_free_text_is_redacted_in_batches(own, monkeypatch):
    from iac.redaction import MASK, register_secret

    monkeypatch.setattr(exports, "BLOCK_ROWS", 2)  # redaction runs per column of each block
    register_secret("sekrit-value-for-export-test")
    for n in range(3):
        audit_record(
            tenant=own.tenant, action="note", summary=f"{n} token sekrit-value-for-export-test", data={"n": n}
        )
    rows = parse(exports.events_csv(audit_events_for_user(own.user("viewer")).filter(action="note")))
    assert [r["summary"] for r in rows] == [f"{n} token {MASK}" for n in (2, 1, 0)]
    assert exports.redact_many(["a\x00b", "c"]) == ["a\x00b", "c"]  # a separator inside a cell: per-cell path


@pytest.mark.parametrize(
    "column,expected",
    [
        (("plain", "=1+1", None, "x"), ["plain", "'=1+1", "", "x"]),
        (("a", "b\x00=c"), ["a", "b\x00=c"]),  # a NUL then a trigger inside a cell: not a cell start
        (("\r", "@x", "+", "-"), ["'\r", "'@x", "'+", "'-"]),
        ((1, -2, None, "-3"), [1, -2, "", "'-3"]),  # numbers pass, text that looks like one does not
    ],
)
def test_neutralised_escapes_exactly_the_formula_cells(column, expected):
    assert list(exports.neutralised(column)) == expected


def test_neutralised_returns_a_clean_column_as_is():
    column = ("a", "b", 1, None)
    assert exports.neutralised(column) is column


def test_event_export_across_blocks_escapes_and_empties(own, monkeypatch):
    """Per-block column passes keep every row and cell in place: formula cells escaped wherever they fall,
    an empty JSON object as an empty cell, a missing address as an empty cell."""
    monkeypatch.setattr(exports, "BLOCK_ROWS", 2)
    monkeypatch.setattr(exports, "CHUNK_SIZE", 3)
    summaries = ["=HYPERLINK(x)", "ok", "@SUM(1)", "fine", "+1", "-"]
    events = [audit_record(tenant=own.tenant, action="probe", summary=text) for text in summaries]
    rows = parse(exports.events_csv(audit_events_for_user(own.user("viewer")).filter(action="probe")))
    assert [r["event_id"] for r in rows] == [str(e.pk) for e in reversed(events)]
    assert [r["summary"] for r in rows] == [exports.safe_cell(t) for t in reversed(summaries)]
    assert all(r["data"] == "" and r["ip_address"] == "" for r in rows)
    assert [r["timestamp"] for r in rows] == [e.created_at.isoformat() for e in reversed(events)]


def test_empty_export_is_the_header_alone(own):
    chunks = list(exports.events_csv(audit_events_for_user(own.user("viewer")).filter(action="nothing")))
    assert b"".join(chunks).decode("utf-8-sig").splitlines() == [",".join(exports.EVENT_COLUMNS)]


def test_asgi_pulls_blocks_lazily():
    """Under ASGI the export is pulled one block at a time, never collected into a list first."""
    from asgiref.sync import async_to_sync

    from runs.exports import pulled

    produced = []

    def blocks():
        for n in range(3):
            produced.append(n)
            yield f"{n}".encode()

    stream = pulled(blocks())

    async def first_then_rest():
        first = await stream.__anext__()
        seen_after_first = list(produced)
        rest = [block async for block in stream]
        return first, seen_after_first, rest

    first, seen, rest = async_to_sync(first_then_rest)()
    assert first == b"0" and seen == [0] and rest == [b"1", b"2"]


# Cells that the CSV encoding and the formula guard turn on, mixed with arbitrary text and numbers.
_CELLS = st.one_of(
    st.none(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(
        ["", ",", '"', '""', "\r\n", "\n", "\r", "=1+1", "-x", "@a", "\tx", "a,b", 'say "hi"', " "]
    ),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=5).flatmap(
        lambda width: st.lists(st.lists(_CELLS, min_size=width, max_size=width), max_size=6)
    )
)
def test_csv_block_writes_what_the_csv_module_writes(rows):
    """The column-wise encoder is byte-for-byte `csv.writer` over the formula-guarded cells."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[exports.safe_cell(cell) for cell in row] for row in rows])
    columns = list(zip(*rows, strict=True)) if rows else []
    assert exports.csv_block(columns) == buffer.getvalue()
