"""The compliance report of one tenant for one period: runs by status, approvals with approver and time,
gate failures, overrides (warnings acknowledged at approval), cost impact of what was applied, and the
audit chain's verification. Rendered as a page, a CSV and a PDF from the same `ComplianceReport`."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from iac.pricing.money import fmt

from .audit import ChainReport, chain_key, verify_chain
from .exports import safe_cell
from .filtersets import day_start
from .models import Approval, GateResult, GateStatus, Run
from .states import RunStatus

READ_ACTION = "audit.view"
PERIOD_PATTERN = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{2})|Q(?P<quarter>[1-4])))?$")


@dataclass(frozen=True)
class Period:
    label: str  # 2026-11, 2026-Q4 or 2026
    start: datetime
    end: datetime  # exclusive

    @classmethod
    def parse(cls, text: str | None, *, today: date | None = None) -> Period:
        """`YYYY-MM`, `YYYY-Qn` or `YYYY`; empty means the current month."""
        today = today or timezone.localdate()
        text = (text or "").strip() or f"{today:%Y-%m}"
        match = PERIOD_PATTERN.match(text)
        if not match:
            raise ValidationError("A period is a month (2026-11), a quarter (2026-Q4) or a year (2026).")
        year = int(match["year"])
        if match["month"]:
            month = int(match["month"])
            if not 1 <= month <= 12:
                raise ValidationError("Months run from 01 to 12.")
            first, months = date(year, month, 1), 1
        elif match["quarter"]:
            first, months = date(year, 3 * int(match["quarter"]) - 2, 1), 3
        else:
            first, months = date(year, 1, 1), 12
        if year < 2000 or first > today:
            raise ValidationError("That period has not started yet.")
        after = first.month - 1 + months
        last = date(first.year + after // 12, after % 12 + 1, 1)
        return cls(label=text, start=day_start(first), end=day_start(last))


def recent_months(count: int = 12, *, today: date | None = None) -> list[str]:
    """The last `count` months, newest first, for the period picker."""
    today = today or timezone.localdate()
    year, month, labels = today.year, today.month, []
    for _ in range(count):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return labels


@dataclass
class ComplianceReport:
    tenant: object
    period: Period
    generated_at: datetime
    generated_by: str
    runs_by_status: list[tuple[str, int]]
    approvals: list[dict]
    gate_failures: list[dict]
    overrides: list[dict]
    cost: list[dict]
    chain: ChainReport
    cost_totals: list[str] = field(default_factory=list)

    @property
    def total_runs(self) -> int:
        return sum(count for _, count in self.runs_by_status)


def _monthly(estimate: dict) -> tuple[Decimal, str] | None:
    totals = (estimate or {}).get("totals") or {}
    currency = (estimate or {}).get("currency") or "USD"
    value = totals.get("monthly_usd") if currency == "USD" else totals.get("monthly")
    return (Decimal(str(value)), currency) if value is not None else None


def compliance_report(user, tenant, period: Period) -> ComplianceReport:
    """Everything read through `for_user(user, "audit.view")` within `tenant`."""
    in_period = {"created_at__gte": period.start, "created_at__lt": period.end}
    runs = Run.objects.for_user(user, READ_ACTION).filter(tenant=tenant, **in_period)
    labels = dict(RunStatus.choices)
    counts = Counter(runs.values_list("status", flat=True))
    by_status = [(labels.get(status, status), counts[status]) for status in labels if counts[status]]

    approvals, overrides = [], []
    approval_rows = (
        Approval.objects.for_user(user, READ_ACTION)
        .filter(tenant=tenant, **in_period)
        .select_related("approver", "run", "run__config")
        .order_by("created_at", "id")
    )
    for approval in approval_rows:
        row = {
            "run": approval.run_id,
            "config": approval.run.config.name,
            "decision": approval.get_decision_display(),
            "approver": approval.approver.email,
            "at": approval.created_at,
            "ticket": approval.change_ticket,
            "voided": approval.void_reason or ("voided" if approval.voided_at else ""),
        }
        approvals.append(row)
        if approval.acknowledged_warnings:
            overrides.append({**row, "warnings": [str(w) for w in approval.acknowledged_warnings]})

    failures = [
        {
            "run": gate.run_id,
            "config": gate.run.config.name,
            "gate": gate.name,
            "summary": gate.summary,
            "findings": len(gate.findings or []),
            "at": gate.run.created_at,
        }
        for gate in GateResult.objects.for_user(user, READ_ACTION)
        .filter(tenant=tenant, status=GateStatus.FAIL, run__created_at__gte=period.start)
        .filter(run__created_at__lt=period.end)
        .select_related("run", "run__config")
        .order_by("run__created_at", "order")
    ]

    per_config: dict[tuple[str, str], dict] = defaultdict(lambda: {"runs": 0, "amount": Decimal(0)})
    totals: dict[str, Decimal] = defaultdict(Decimal)
    applied = runs.filter(status=RunStatus.APPLIED).values_list("config__name", "cost_estimate")
    for config_name, estimate in applied:
        monthly = _monthly(estimate)
        entry = per_config[(config_name, monthly[1] if monthly else "")]
        entry["runs"] += 1
        if monthly:
            entry["amount"] += monthly[0]
            totals[monthly[1]] += monthly[0]
    cost = [
        {
            "config": name,
            "runs": entry["runs"],
            "monthly": f"{'+' if entry['amount'] > 0 else ''}{fmt(entry['amount'], currency)}/month"
            if currency
            else "not estimated",
        }
        for (name, currency), entry in sorted(per_config.items())
    ]
    return ComplianceReport(
        tenant=tenant,
        period=period,
        generated_at=timezone.now(),
        generated_by=getattr(user, "email", str(user)),
        runs_by_status=by_status,
        approvals=approvals,
        gate_failures=failures,
        overrides=overrides,
        cost=cost,
        cost_totals=[f"{fmt(amount, currency)}/month" for currency, amount in sorted(totals.items())],
        chain=verify_chain(chain_key(tenant)),
    )


def chain_summary(chain: ChainReport) -> str:
    if chain.ok:
        return f"Verified: {chain.checked:,} events, every link intact."
    return f"BROKEN at event #{chain.broken_at}: {chain.reason} ({chain.checked:,} verified before it)."


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


# --- CSV ---------------------------------------------------------------------------------------------


def compliance_csv(report: ComplianceReport) -> bytes:
    """One file, one section per table; each section starts with its title row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def rows(title: str, header: list[str], body: list[list]) -> None:
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows([[safe_cell(cell) for cell in row] for row in body] or [["(none)"]])
        writer.writerow([])

    rows(
        "Compliance report",
        ["tenant", "period", "from", "to (exclusive)", "generated", "by"],
        [
            [
                report.tenant.slug,
                report.period.label,
                _when(report.period.start),
                _when(report.period.end),
                _when(report.generated_at),
                report.generated_by,
            ]
        ],
    )
    rows("Audit chain", ["result"], [[chain_summary(report.chain)]])
    rows("Runs by status", ["status", "runs"], [list(pair) for pair in report.runs_by_status])
    rows(
        "Approvals",
        ["run", "config", "decision", "approver", "time", "change ticket", "voided"],
        [
            [a["run"], a["config"], a["decision"], a["approver"], _when(a["at"]), a["ticket"], a["voided"]]
            for a in report.approvals
        ],
    )
    rows(
        "Gate failures",
        ["run", "config", "gate", "findings", "summary", "run created"],
        [
            [g["run"], g["config"], g["gate"], g["findings"], g["summary"], _when(g["at"])]
            for g in report.gate_failures
        ],
    )
    rows(
        "Overrides (warnings acknowledged at approval)",
        ["run", "approver", "time", "warnings"],
        [[o["run"], o["approver"], _when(o["at"]), " | ".join(o["warnings"])] for o in report.overrides],
    )
    rows(
        "Cost impact of applied runs",
        ["config", "applied runs", "estimated monthly delta"],
        [[c["config"], c["runs"], c["monthly"]] for c in report.cost],
    )
    return ("\ufeff" + buffer.getvalue()).encode()


# --- PDF ---------------------------------------------------------------------------------------------
# fpdf2's core fonts (Helvetica) only encode Latin-1; other text is transliterated rather than crashing
# the download (₹ → "INR ", → → "->", anything else unknown → "?").

PDF_REPLACEMENTS = {
    "₹": "INR ",
    "€": "EUR ",
    "→": "->",
    "←": "<-",
    "…": "...",
    "—": "-",
    "–": "-",
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "∅": "-",
}


def latin1(text) -> str:
    text = str(text if text is not None else "")
    for char, replacement in PDF_REPLACEMENTS.items():
        text = text.replace(char, replacement)
    text = unicodedata.normalize("NFKC", text)
    return text.encode("latin-1", "replace").decode("latin-1")


def compliance_pdf(report: ComplianceReport) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_title(latin1(f"Compliance report {report.tenant.name} {report.period.label}"))
    pdf.set_creator("Gantry")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, latin1(f"Compliance report: {report.tenant.name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(
        0,
        5,
        latin1(
            f"Period {report.period.label} ({_when(report.period.start)} to {_when(report.period.end)}, "
            f"end exclusive). Generated {_when(report.generated_at)} by {report.generated_by}."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )

    def section(
        title: str, header: list[str], body: list[list], widths: tuple[int, ...] | None = None
    ) -> None:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, latin1(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        if not body:
            pdf.cell(0, 6, "None in this period.", new_x="LMARGIN", new_y="NEXT")
            return
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=5) as table:
            heading = table.row()
            for cell in header:
                heading.cell(latin1(cell))
            for values in body:
                row = table.row()
                for value in values:
                    row.cell(latin1(value))

    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    ok = report.chain.ok
    pdf.set_text_color(0, 110, 40) if ok else pdf.set_text_color(180, 0, 0)
    pdf.multi_cell(0, 6, latin1(f"Audit chain: {chain_summary(report.chain)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)

    section(
        f"Runs by status ({report.total_runs} in the period)",
        ["Status", "Runs"],
        [list(pair) for pair in report.runs_by_status],
        (3, 1),
    )
    section(
        "Approvals",
        ["Run", "Config", "Decision", "Approver", "Time", "Change ticket", "Voided"],
        [
            [
                f"#{a['run']}",
                a["config"],
                a["decision"],
                a["approver"],
                _when(a["at"]),
                a["ticket"],
                a["voided"],
            ]
            for a in report.approvals
        ],
        (1, 2, 2, 4, 3, 2, 3),
    )
    section(
        "Gate failures",
        ["Run", "Config", "Gate", "Findings", "Summary"],
        [[f"#{g['run']}", g["config"], g["gate"], g["findings"], g["summary"]] for g in report.gate_failures],
        (1, 2, 2, 1, 8),
    )
    section(
        "Overrides (warnings acknowledged at approval)",
        ["Run", "Approver", "Time", "Warnings"],
        [[f"#{o['run']}", o["approver"], _when(o["at"]), "; ".join(o["warnings"])] for o in report.overrides],
        (1, 3, 3, 8),
    )
    section(
        "Cost impact of applied runs",
        ["Config", "Applied runs", "Estimated monthly delta"],
        [[c["config"], c["runs"], c["monthly"]] for c in report.cost],
        (3, 1, 3),
    )
    if report.cost_totals:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 7, latin1("Total: " + ", ".join(report.cost_totals)), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
