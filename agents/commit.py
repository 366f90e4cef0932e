"""The intent commit: what Gantry is about to do, stated before anything runs.

``build_commit(intent, answer=..., config=..., estimate=...)`` returns an ``IntentCommit``: a plain
sentence, the estimated scope (resource counts), an estimated cost, the assumptions made and the
potential regrets (region other than the config's default, budget near or over the account's limit,
production, destructive action, public exposure). ``belief(...)`` is the agent's view of the request
(understood, assumptions, alternatives) as a JSON-safe dict to store on the run.

Estimates here are rough and made without Terraform (``snapshot_estimator`` prices the specs from the
bundled price snapshot); the cost gate measures the real plan later and is the one that blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agents.clarification import describe_scope, estimated_scope, questions_for
from agents.intent import Action, Intent, Period
from iac.pricing.money import HOURS_PER_DAY, HOURS_PER_MONTH, convert, fmt, quantize, settings_rates, to_usd

__all__ = [
    "CostEstimate",
    "IntentCommit",
    "Regret",
    "belief",
    "budget_daily_usd",
    "build_commit",
    "review_request",
    "snapshot_estimator",
]

NEAR_LIMIT = Decimal("0.8")
DESTRUCTIVE_OPERATIONS = frozenset({"delete", "terminate", "destroy", "remove", "drop", "purge", "wipe"})


@dataclass
class CostEstimate:
    """A rough monthly cost in USD, with the lines it adds up and what could not be priced."""

    monthly_usd: Decimal
    lines: list[dict[str, Any]] = field(default_factory=list)  # {"what": str, "monthly_usd": str}
    unpriced: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def daily_usd(self) -> Decimal:
        return self.monthly_usd * HOURS_PER_DAY / HOURS_PER_MONTH

    def per(self, period: str, currency: str = "USD", rates=None) -> Decimal:
        rates = rates if rates is not None else settings_rates()
        usd = {"month": self.monthly_usd, "day": self.daily_usd, "hour": self.monthly_usd / HOURS_PER_MONTH}[
            period
        ]
        return convert(usd, currency, rates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "monthly_usd": str(quantize(self.monthly_usd)),
            "daily_usd": str(quantize(self.daily_usd)),
            "lines": self.lines,
            "unpriced": list(self.unpriced),
            "source": self.source,
        }


Estimator = Callable[[Intent, list[dict[str, Any]]], CostEstimate | None]


@dataclass
class Regret:
    code: str  # region_differs, budget_near_limit, budget_over_limit, prod, destructive, public, ...
    message: str
    severity: str = "warning"  # info | warning | danger

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "severity": self.severity}


@dataclass
class IntentCommit:
    summary: str
    scope: dict[str, int | None]
    stacks: list[str]
    estimate: CostEstimate | None
    cost_text: str
    assumptions: list[str]
    regrets: list[Regret]
    open_questions: list[str]
    region: str | None
    environment: str | None
    notes: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.open_questions and not self.refusals

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "scope": self.scope,
            "stacks": self.stacks,
            "estimate": self.estimate.to_dict() if self.estimate else None,
            "cost_text": self.cost_text,
            "assumptions": list(self.assumptions),
            "regrets": [regret.to_dict() for regret in self.regrets],
            "open_questions": list(self.open_questions),
            "region": self.region,
            "environment": self.environment,
            "notes": list(self.notes),
            "refusals": list(self.refusals),
        }


# --- money -----------------------------------------------------------------------------------------


def budget_daily_usd(amount: Decimal, currency: str, period: str, rates=None) -> Decimal:
    """A budget of ``amount`` ``currency`` per ``period`` (hour/day/month) as USD per day."""
    rates = rates if rates is not None else settings_rates()
    usd = to_usd(Decimal(amount), currency, rates)
    if period == Period.HOUR:
        return usd * HOURS_PER_DAY
    if period == Period.MONTH:
        return usd * HOURS_PER_DAY / HOURS_PER_MONTH
    return usd


def account_limits(account) -> list[tuple[str, Decimal, str, str]]:
    """(label, amount, currency, period) for each budget set on the account."""
    if account is None:
        return []
    limits = []
    currency = account.budget_currency or "USD"
    if account.daily_budget is not None:
        limits.append(("daily", Decimal(account.daily_budget), currency, "day"))
    if account.monthly_budget is not None:
        limits.append(("monthly", Decimal(account.monthly_budget), currency, "month"))
    return limits


# --- a rough estimate from the price snapshot ------------------------------------------------------


def snapshot_estimator(intent: Intent, specs: list[dict[str, Any]]) -> CostEstimate | None:
    """Price the composition specs from the bundled snapshot (no network, no Terraform): compute,
    load balancer, NAT gateway, database, EKS control plane, KMS keys. Usage-based charges (traffic,
    requests, S3 storage) are listed as unpriced."""
    if not specs:
        return None
    from iac.pricing.catalog import PriceKey, snapshot

    source = snapshot()
    total = Decimal(0)
    lines: list[dict[str, Any]] = []
    unpriced: list[str] = []

    def add(what: str, service: str, region: str, sku: str, quantity: Decimal | int = 1, hours: bool = True):
        nonlocal total
        price = source.price(PriceKey(service, region, sku))
        if price is None:
            unpriced.append(f"{what} ({sku} in {region})")
            return
        monthly = price.usd * Decimal(quantity) * (HOURS_PER_MONTH if hours else 1)
        total += monthly
        lines.append({"what": what, "monthly_usd": str(quantize(monthly))})

    for spec in specs:
        if spec.get("action", "create") == "destroy":
            continue
        region = spec.get("region") or intent.region or "us-east-1"
        params = spec.get("parameters", {})
        stack = spec.get("stack")
        if stack == "web_tier":
            count = int(params.get("instance_count") or 2)
            itype = params.get("instance_type") or "t3.micro"
            add(f"{count} × EC2 {itype}", "ec2", region, itype, count)
            add("application load balancer", "elb", region, "alb")
            if params.get("enable_nat_gateway", True):
                add("NAT gateway", "nat", region, "gateway")
            add("KMS key", "kms", region, "key", hours=False)
        elif stack == "data_tier":
            engine = params.get("engine") or "postgres"
            klass = params.get("instance_class") or "db.t3.medium"
            nodes = 2 if params.get("multi_az", True) else 1
            add(
                f"RDS {engine} {klass}" + (" (multi-AZ)" if nodes == 2 else ""),
                "rds",
                region,
                f"{engine}/{klass}",
                nodes,
            )
            storage = int(params.get("allocated_storage") or 20) * nodes
            add(f"{storage} GB database storage", "rds_storage", region, "gp3", storage, hours=False)
            add("KMS key", "kms", region, "key", hours=False)
        elif stack == "static_bucket":
            unpriced.append("S3 storage and requests (usage-based)")
            add("KMS key", "kms", region, "key", hours=False)
        elif stack == "eks_cluster":
            add("EKS control plane", "eks", region, "cluster")
            nodes = int(params.get("node_desired_size") or 2)
            for itype in params.get("node_instance_types") or ["t3.medium"]:
                add(f"{nodes} × node {itype}", "ec2", region, itype, nodes)
            add("NAT gateway", "nat", region, "gateway")
            add("KMS key", "kms", region, "key", hours=False)
    return CostEstimate(monthly_usd=total, lines=lines, unpriced=unpriced, source=source.source_label)


def resolve_estimate(
    estimate: CostEstimate | Estimator | None, intent: Intent, specs: list[dict[str, Any]]
) -> CostEstimate | None:
    if estimate is None or isinstance(estimate, CostEstimate):
        return estimate
    return estimate(intent, specs)


# --- the commit ------------------------------------------------------------------------------------

_VERBS = {
    Action.CREATE: "Create",
    Action.MODIFY: "Change",
    Action.DESTROY: "Destroy",
    Action.QUERY: "Look up",
    Action.OPERATE: "Run",
}


_LABELS = {
    "ec2_instance": "EC2 instance",
    "alb": "application load balancer",
    "nlb": "network load balancer",
    "asg": "Auto Scaling group",
    "rds_instance": "RDS database",
    "s3_bucket": "S3 bucket",
    "eks_cluster": "EKS cluster",
    "lambda_function": "Lambda function",
    "vpc": "VPC",
}


def _resource_phrase(resource) -> str:
    label = _LABELS.get(resource.type.value, resource.type.value.replace("_", " "))
    detail = resource.instance_type or resource.instance_class or resource.engine or ""
    count = resource.count
    parts = [str(count)] if count is not None else ["all matching"]
    if detail:
        parts.append(detail)
    parts.append(label + ("s" if count != 1 else ""))
    if resource.names:
        parts.append("named " + ", ".join(resource.names))
    return " ".join(parts)


def summary_sentence(intent: Intent, *, config=None, specs: list[dict[str, Any]] | None = None) -> str:
    verb = _VERBS.get(intent.action, "Handle")
    if intent.action == Action.OPERATE and intent.operation:
        verb = intent.operation.replace("_", " ").capitalize()
    behind_alb = "behind_alb" in intent.constraints and intent.action == Action.CREATE
    shown = [
        r for r in intent.resources if not (behind_alb and r.type.value == "alb" and r.count in (None, 1))
    ]
    things = ", ".join(_resource_phrase(r) for r in shown) or "the requested resources"
    if intent.action == Action.QUERY:
        things = f"{intent.domain.value} information" + (f" about {things}" if intent.resources else "")
    sentence = f"{verb} {things}"
    if behind_alb:
        sentence += " behind an application load balancer"
    region = intent.region or (config.region if config is not None else None)
    if region:
        sentence += f" in {region}"
    if config is not None:
        sentence += f" with config '{config.name}' ({config.env}, account {config.account.name})"
    if specs:
        stacks = ", ".join(dict.fromkeys(spec["stack"] for spec in specs))
        sentence += f", using the {stacks} blueprint" + ("s" if "," in stacks else "")
    if intent.filters:
        sentence += ", where " + ", ".join(f"{k}={v}" for k, v in intent.filters.items())
    if intent.budget is not None:
        budget = intent.budget
        sentence += f", within {fmt(budget.amount, budget.currency.value)}/{budget.period.value}"
    return sentence + "."


def _public(intent: Intent, specs: list[dict[str, Any]]) -> bool:
    if "public" in intent.constraints:
        return True
    for spec in specs:
        params = spec.get("parameters", {})
        if params.get("internet_facing") or params.get("endpoint_public_access"):
            return True
    return False


def regrets_for(
    intent: Intent,
    *,
    config=None,
    specs: list[dict[str, Any]] | None = None,
    estimate: CostEstimate | None = None,
    rates=None,
) -> list[Regret]:
    specs = specs or []
    rates = rates if rates is not None else settings_rates()
    regrets: list[Regret] = []
    account = getattr(config, "account", None) if config is not None else None
    if config is not None and intent.region and intent.region != config.region:
        regrets.append(
            Regret(
                "region_differs",
                f"{intent.region} is not the config's default region ({config.region}).",
            )
        )
    env = config.env if config is not None else None
    if env == "prod" or (intent.environment is not None and intent.environment.value == "prod"):
        regrets.append(Regret("prod", "This changes a production environment.", "danger"))
    if intent.environment is not None and env is not None and intent.environment.value != env:
        regrets.append(
            Regret(
                "environment_differs",
                f"The request says {intent.environment.value} but the active config is {env}.",
                "danger",
            )
        )
    destructive = intent.action == Action.DESTROY or (
        intent.operation is not None and intent.operation.split("_")[0] in DESTRUCTIVE_OPERATIONS
    )
    if any(spec.get("action") == "destroy" for spec in specs):
        destructive = True
    if destructive:
        regrets.append(Regret("destructive", "This deletes resources; it cannot be undone.", "danger"))
    if _public(intent, specs):
        regrets.append(Regret("public", "Something will be reachable from the internet.", "danger"))

    # Budgets: the estimate against the account's limits and the request's own budget; without an
    # estimate, the request's budget against the account's limits.
    for label, amount, currency, period in account_limits(account):
        limit_usd = budget_daily_usd(amount, currency, period, rates)
        if limit_usd <= 0:
            continue
        limit_text = f"the account's {label} limit of {fmt(amount, currency)}"
        if estimate is not None:
            ratio = estimate.daily_usd / limit_usd
            spend = fmt(estimate.per(period, currency, rates), currency)
            if ratio > 1:
                regrets.append(
                    Regret("budget_over_limit", f"Estimated {spend}/{period} is over {limit_text}.", "danger")
                )
            elif ratio >= NEAR_LIMIT:
                regrets.append(
                    Regret(
                        "budget_near_limit",
                        f"Estimated {spend}/{period} is {ratio:.0%} of {limit_text}.",
                    )
                )
        elif intent.budget is not None:
            asked = budget_daily_usd(
                intent.budget.amount, intent.budget.currency.value, intent.budget.period, rates
            )
            ratio = asked / limit_usd
            if ratio > 1:
                regrets.append(
                    Regret("budget_over_limit", f"The requested budget is above {limit_text}.", "danger")
                )
            elif ratio >= NEAR_LIMIT:
                regrets.append(
                    Regret("budget_near_limit", f"The requested budget is {ratio:.0%} of {limit_text}.")
                )
    if estimate is not None and intent.budget is not None:
        budget = intent.budget
        asked = budget_daily_usd(budget.amount, budget.currency.value, budget.period, rates)
        if asked > 0:
            ratio = estimate.daily_usd / asked
            stated = f"{fmt(budget.amount, budget.currency.value)}/{budget.period.value}"
            if ratio > 1:
                regrets.append(
                    Regret("over_request_budget", f"The estimate is above the requested {stated}.", "danger")
                )
            elif ratio >= NEAR_LIMIT:
                regrets.append(Regret("near_request_budget", f"The estimate is {ratio:.0%} of {stated}."))
    if estimate is not None and estimate.unpriced:
        regrets.append(
            Regret("unpriced", "Not in the estimate: " + "; ".join(estimate.unpriced) + ".", "info")
        )
    return regrets


def _cost_text(estimate: CostEstimate | None, intent: Intent, config, rates) -> str:
    if estimate is None:
        return "No estimate yet; the cost gate prices the plan."
    account = getattr(config, "account", None) if config is not None else None
    currency = (
        intent.budget.currency.value
        if intent.budget is not None
        else (account.budget_currency if account is not None else "USD")
    )
    try:
        daily = fmt(estimate.per("day", currency, rates), currency)
        monthly = fmt(estimate.per("month", currency, rates), currency)
    except ValueError:
        currency = "USD"
        daily, monthly = fmt(estimate.daily_usd, "USD"), fmt(estimate.monthly_usd, "USD")
    return f"About {daily}/day ({monthly}/month), estimated before planning."


def build_commit(
    intent: Intent,
    *,
    answer=None,
    config=None,
    estimate: CostEstimate | Estimator | None = None,
    rates=None,
) -> IntentCommit:
    """The commit for ``intent`` (and the agent's ``answer``, whose specs and estimate are used)."""
    rates = rates if rates is not None else settings_rates()
    specs = list(getattr(answer, "specs", None) or [])
    if estimate is None and answer is not None:
        estimate = getattr(answer, "estimate", None)
    cost = resolve_estimate(estimate, intent, specs)
    region = intent.region or (config.region if config is not None else None)
    assumptions = list(intent.assumptions)
    if intent.region is None and config is not None and intent.action in (Action.CREATE, Action.MODIFY):
        assumptions.append(f"region taken from config '{config.name}' ({config.region})")
    return IntentCommit(
        summary=summary_sentence(intent, config=config, specs=specs),
        scope=estimated_scope(intent),
        stacks=list(dict.fromkeys(spec["stack"] for spec in specs)),
        estimate=cost,
        cost_text=_cost_text(cost, intent, config, rates),
        assumptions=list(dict.fromkeys(assumptions)),
        regrets=regrets_for(intent, config=config, specs=specs, estimate=cost, rates=rates),
        open_questions=[q.question for q in questions_for(intent, config=config)],
        region=region,
        environment=config.env
        if config is not None
        else (intent.environment.value if intent.environment else None),
        notes=list(getattr(answer, "notes", None) or []),
        refusals=list(getattr(answer, "refusals", None) or []),
    )


def belief(
    intent: Intent,
    *,
    answer=None,
    commit: IntentCommit | None = None,
    alternatives: list[str] | None = None,
) -> dict[str, Any]:
    """The agent's belief about the request, JSON-safe, for the run record."""
    alts = list(alternatives or [])
    blueprint = getattr(answer, "blueprint", None) if answer is not None else None
    if blueprint:
        for alt in blueprint.get("alternatives", []):
            alts.append(f"blueprint {alt['slug']} (score {alt['score']})")
    for ambiguity in intent.ambiguities:
        if ambiguity.options:
            alts.append(f"{ambiguity.field}: " + " / ".join(ambiguity.options))
    return {
        "understood": commit.summary if commit is not None else summary_sentence(intent),
        "action": intent.action.value,
        "domain": intent.domain.value,
        "scope": estimated_scope(intent),
        "scope_text": describe_scope(intent),
        "confidence": intent.confidence,
        "parser": intent.parser,
        "assumptions": list(commit.assumptions if commit is not None else intent.assumptions),
        "alternatives": list(dict.fromkeys(alts)),
        "open_questions": [a.question for a in intent.ambiguities],
        "agent": getattr(answer, "agent", None),
        "status": getattr(answer, "status", None),
        "blueprint": {k: v for k, v in (blueprint or {}).items() if k != "alternatives"} or None,
        "regrets": [r.to_dict() for r in commit.regrets] if commit is not None else [],
        "schema_version": intent.schema_version,
    }


def review_request(intent: Intent, *, config, user=None, blueprint_version=None) -> tuple[Any, IntentCommit]:
    """Route ``intent`` as generation will, pricing the specs from the snapshot, and state the commit:
    ``(AgentAnswer, IntentCommit)``. With ``blueprint_version`` (the requester's choice) the request is
    a create of that blueprint's stack, tuned by what the request states."""
    from agents.domains import AgentContext
    from agents.intent import Domain
    from agents.router import route

    if blueprint_version is not None:
        intent = intent.model_copy(update={"action": Action.CREATE, "domain": Domain.INFRA})
    context = AgentContext.for_config(
        config, user=user, estimator=snapshot_estimator, blueprint_version=blueprint_version
    )
    answer = route(intent, context)
    return answer, build_commit(answer.intent, answer=answer, config=config)
