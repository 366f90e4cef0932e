"""The runs export's cells as PostgreSQL spells them, for the export's fast path.

A run's row lists its approvals, gate results and artifacts. Read as related rows and joined in Python,
those cost about a dozen rows per run; here each becomes one correlated `string_agg` subquery, and the
timestamps are formatted in SQL, so a run arrives as one tuple of text. Each expression spells exactly
what its Python counterpart in `runs.exports` writes (`approvals_cell`, `gates_cell`, the artifacts cell,
`_iso`); a PostgreSQL test exports the same runs both ways and compares the files byte for byte.
"""

from __future__ import annotations

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import Case, F, Func, IntegerField, OuterRef, Q, Subquery, TextField, Value, When
from django.db.models.functions import Cast, Concat
from django.db.models.lookups import GreaterThan

from .models import Approval, Artifact, GateResult


class UtcSeconds(Func):
    """`datetime.isoformat(timespec="seconds")` of a timestamp in UTC: `2026-01-02T03:04:05+00:00`."""

    output_field = TextField()
    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00'"


class JsonArrayLength(Func):
    """The length of a JSON array column, 0 for anything else, counted by the database (`findings` can be
    long: decoding it in Python only to count it was most of the gate rows' cost). Both export paths
    use it."""

    function = "json_array_length"  # SQLite: 0 for anything but an array
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        template = "CASE WHEN jsonb_typeof(%(expressions)s) = 'array' THEN jsonb_array_length(%(expressions)s) ELSE 0 END"
        return self.as_sql(compiler, connection, template=template, **extra)


def _text(*parts):
    expressions = [Value(p) if isinstance(p, str) else p for p in parts]
    return expressions[0] if len(expressions) == 1 else Concat(*expressions, output_field=TextField())


def _when(condition, *parts) -> Case:
    """The parts when `condition` holds, else the empty string."""
    return Case(When(condition, then=_text(*parts)), default=Value(""), output_field=TextField())


def _counted(column: str, before: str, after: str) -> Case:
    """`before` + the length of the JSON array + `after`, when the array is not empty."""
    count = JsonArrayLength(column)
    return _when(GreaterThan(count, 0), before, Cast(count, TextField()), after)


def _per_run(rows, line, order_by: tuple[str, ...], delimiter: str) -> Subquery:
    """`line` of each of the run's `rows`, in order, joined by `delimiter` (NULL when there are none)."""
    aggregated = (
        rows.filter(run_id=OuterRef("pk"))
        .order_by()
        .values("run_id")
        .annotate(cell=StringAgg(line, delimiter, order_by=order_by))
        .values("cell")
    )
    return Subquery(aggregated, output_field=TextField())


def approvals_cell_sql() -> Subquery:
    line = _text(
        F("decision"), " by ", F("approver__email"), " at ", UtcSeconds("created_at"),
        _when(~Q(change_ticket=""), " ticket ", F("change_ticket")),
        _counted("acknowledged_warnings", " acknowledged ", " warning(s)"),
        _when(Q(voided_at__isnull=False), " (voided)"),
    )  # fmt: skip
    return _per_run(Approval.objects.all(), line, ("created_at", "id"), "; ")


def gates_cell_sql() -> Subquery:
    line = _text(F("name"), ":", F("status"), _counted("findings", " (", " finding(s))"))
    return _per_run(GateResult.objects.all(), line, ("order", "id"), "; ")


def artifacts_cell_sql(link_head: str, link_tail: str) -> Subquery:
    """`kind=<link>` per artifact, the link being `link_head` + id + `link_tail` (the absolute download
    URL around the id, worked out once by the caller)."""
    line = _text(F("kind"), "=", link_head, Cast("id", TextField()), link_tail)
    return _per_run(Artifact.objects.all(), line, ("kind", "id"), " ")
