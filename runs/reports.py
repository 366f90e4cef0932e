"""Reports: the estimated monthly cost each config has had applied over time against its account's
budget, and how long runs take per stage (p50/p95, and over time). Charts are SVG drawn here, on the
server (no JavaScript library); every chart is paired with a table of the same numbers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from statistics import quantiles

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from iac.pricing.money import convert, fmt, settings_rates
from tenants.models import Config

from .filtersets import day_start
from .models import Run
from .states import RunStatus

READ_ACTION = "view"
WINDOWS = (30, 90, 365)
TOTAL_STAGE = "pipeline_total"


# --- data --------------------------------------------------------------------------------------------


@dataclass
class CostSeries:
    config: Config
    currency: str
    budget: Decimal | None  # the account's monthly budget, in `currency`
    points: list[tuple[date, Decimal]]  # cumulative estimated monthly run-rate at the end of each day

    @property
    def latest(self) -> Decimal:
        return self.points[-1][1] if self.points else Decimal(0)

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.latest > self.budget

    @property
    def has_cost(self) -> bool:
        return any(value for _, value in self.points)

    @property
    def budget_text(self) -> str:
        return fmt(self.budget, self.currency) if self.budget is not None else "none"

    @property
    def rows(self) -> list[tuple[date, str]]:
        return [(day, fmt(value, self.currency)) for day, value in self.points]


def _ms(value) -> int | None:
    """Stage timings are stored as milliseconds, or as {"ms": …} for stages that record a start."""
    if isinstance(value, dict):
        value = value.get("ms")
    return int(value) if isinstance(value, int | float) and value >= 0 else None


def cost_by_config(user, tenant, *, days: int, today: date | None = None) -> list[CostSeries]:
    """Per config: what applied runs added to the estimated monthly bill, accumulated day by day (runs
    applied before the window give the starting level), in the account's budget currency."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    rates = settings_rates()
    configs = Config.objects.for_user(user, READ_ACTION).filter(tenant=tenant).select_related("account")
    applied = (
        Run.objects.for_user(user, READ_ACTION)
        .filter(tenant=tenant, status=RunStatus.APPLIED, created_at__lt=day_start(today + timedelta(days=1)))
        .values_list("config_id", "created_at", "cost_estimate")
        .order_by("created_at")
    )
    daily: dict[int, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for config_id, created, estimate in applied.iterator(chunk_size=2000):
        usd = ((estimate or {}).get("totals") or {}).get("monthly_usd")
        if usd is None:
            continue
        day = max(timezone.localtime(created).date(), first)
        daily[config_id][day] += Decimal(str(usd))
    series = []
    for config in configs.order_by("name"):
        account = config.account
        currency = account.budget_currency
        level, points = Decimal(0), []
        for offset in range(days):
            day = first + timedelta(days=offset)
            level += daily[config.pk].get(day, Decimal(0))
            points.append((day, convert(level, currency, rates)))
        budget = account.monthly_budget
        series.append(CostSeries(config=config, currency=currency, budget=budget, points=points))
    return series


def seconds(ms: int) -> str:
    return f"{ms / 1000:.1f} s" if ms < 120_000 else f"{ms / 60_000:.1f} min"


@dataclass
class Percentiles:
    label: str  # a stage name, or a week's first day
    runs: int
    p50: int  # milliseconds
    p95: int

    @property
    def p50_text(self) -> str:
        return seconds(self.p50)

    @property
    def p95_text(self) -> str:
        return seconds(self.p95)


@dataclass
class DurationReport:
    stages: list[Percentiles] = field(default_factory=list)
    weeks: list[Percentiles] = field(default_factory=list)  # the whole pipeline, per week


def _p50_p95(values: list[int]) -> tuple[int, int]:
    if len(values) == 1:
        return values[0], values[0]
    cuts = quantiles(values, n=100, method="inclusive")
    return round(cuts[49]), round(cuts[94])


def run_durations(user, tenant, *, days: int, today: date | None = None) -> DurationReport:
    """p50/p95 per stage over the window, and of the whole pipeline per week."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    rows = (
        Run.objects.for_user(user, READ_ACTION)
        .filter(tenant=tenant, created_at__gte=day_start(first))
        .exclude(stage_timings={})
        .values_list("created_at", "stage_timings")
    )
    per_stage: dict[str, list[int]] = defaultdict(list)
    per_week: dict[date, list[int]] = defaultdict(list)
    for created, timings in rows.iterator(chunk_size=2000):
        for stage, value in (timings or {}).items():
            ms = _ms(value)
            if ms is None:
                continue
            per_stage[stage].append(ms)
            if stage == TOTAL_STAGE:
                day = timezone.localtime(created).date()
                per_week[day - timedelta(days=day.weekday())].append(ms)
    report = DurationReport()
    for stage, values in sorted(per_stage.items(), key=lambda item: (item[0] == TOTAL_STAGE, item[0])):
        p50, p95 = _p50_p95(values)
        report.stages.append(Percentiles(stage, len(values), p50, p95))
    for week in sorted(per_week):
        p50, p95 = _p50_p95(per_week[week])
        report.weeks.append(Percentiles(f"{week:%d %b %Y}", len(per_week[week]), p50, p95))
    return report


# --- SVG charts --------------------------------------------------------------------------------------

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 16, 12, 28
PALETTE = ("#0d6efd", "#6f42c1", "#198754", "#fd7e14")


@dataclass
class Line:
    name: str
    values: list[float]
    color: str = PALETTE[0]
    dashed: bool = False


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def line_chart(
    *, title: str, labels: list[str], lines: list[Line], y_format=str, chart_id: str
) -> SafeString:
    """An accessible line chart: role=img with a title and description; the table next to it carries
    the same numbers for screen readers and copying."""
    count = max((len(line.values) for line in lines), default=0)
    top = _nice_max(max((max(line.values, default=0) for line in lines), default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(i: int) -> float:
        return PAD_LEFT + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" role="img" aria-labelledby="{chart_id}-t {chart_id}-d"'
        ' xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(", ".join(line.name for line in lines))}; '
        f"the table below lists every value.</desc>",
    ]
    for tick in range(5):
        value = top * tick / 4
        ty = y(value)
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{PAD_LEFT - 6}" y="{ty + 4:.1f}" class="axis" text-anchor="end">{escape(y_format(value))}</text>'
        )
    if labels:
        for i in sorted({0, len(labels) // 2, len(labels) - 1}):
            anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" class="axis" text-anchor="{anchor}">{escape(labels[i])}</text>'
            )
    for line in lines:
        if not line.values:
            continue
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(line.values))
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{line.color}" stroke-width="2"{dash}/>'
        )
        if len(line.values) == 1:
            parts.append(f'<circle cx="{x(0):.1f}" cy="{y(line.values[0]):.1f}" r="3" fill="{line.color}"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def cost_chart(series: CostSeries) -> SafeString:
    labels = [f"{day:%d %b}" for day, _ in series.points]
    lines = [Line("Estimated monthly cost applied", [float(v) for _, v in series.points])]
    if series.budget is not None:
        lines.append(
            Line("Monthly budget", [float(series.budget)] * len(labels), color="#dc3545", dashed=True)
        )
    return line_chart(
        title=f"Estimated monthly cost applied on {series.config.name} against its budget",
        labels=labels,
        lines=lines,
        y_format=lambda v: fmt(Decimal(str(v)), series.currency, 0),
        chart_id=f"cost-{series.config.pk}",
    )


def duration_chart(report: DurationReport) -> SafeString:
    return line_chart(
        title="Whole pipeline duration per week (p50 and p95)",
        labels=[week.label for week in report.weeks],
        lines=[
            Line("p50", [week.p50 / 1000 for week in report.weeks], color=PALETTE[0]),
            Line("p95", [week.p95 / 1000 for week in report.weeks], color=PALETTE[3], dashed=True),
        ],
        y_format=lambda v: f"{v:.0f} s",
        chart_id="durations",
    )


def stage_bars(report: DurationReport) -> SafeString:
    """Horizontal bars per stage: p50 solid, p95 as a lighter bar behind it."""
    stages = [s for s in report.stages if s.label != TOTAL_STAGE]
    row_h, label_w = 26, 120
    height = PAD_TOP + row_h * max(len(stages), 1) + 8
    top = _nice_max(max((s.p95 for s in stages), default=0))
    plot_w = WIDTH - label_w - PAD_RIGHT - 70
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {height}" class="chart" role="img" aria-labelledby="stages-t stages-d"'
        ' xmlns="http://www.w3.org/2000/svg">',
        '<title id="stages-t">Duration per stage, p50 and p95</title>',
        '<desc id="stages-d">Dark bars are the median, light bars the 95th percentile; the table below lists '
        "every value.</desc>",
    ]
    for i, stage in enumerate(stages):
        y = PAD_TOP + i * row_h
        w50, w95 = plot_w * stage.p50 / top, plot_w * stage.p95 / top
        parts += [
            f'<text x="{label_w - 8}" y="{y + 15}" class="axis" text-anchor="end">{escape(stage.label)}</text>',
            f'<rect x="{label_w}" y="{y + 4}" width="{w95:.1f}" height="16" fill="{PALETTE[0]}" opacity=".3"/>',
            f'<rect x="{label_w}" y="{y + 4}" width="{w50:.1f}" height="16" fill="{PALETTE[0]}"/>',
            f'<text x="{label_w + w95 + 6:.1f}" y="{y + 15}" class="axis">{escape(stage.p95_text)}</text>',
        ]
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
