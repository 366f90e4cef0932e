"""Cost gate: the plan's cost delta checked against the request's budget and the account's limits.

The estimate itself lives in `iac.pricing.estimate` (`estimate(plan_json, region)`); this gate turns it
into a GateResult. Limits are hard: a delta above any of them fails the gate. Resources without a price
are listed in the details and raise a non-blocking finding each, so the approver sees what the budget
check could not cover.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from iac.gates.base import Finding, GateResult, Severity, timed
from iac.pricing.catalog import PriceSource
from iac.pricing.estimate import CostEstimate, estimate
from iac.pricing.money import SYMBOLS, convert, fmt, quantize, rate_for, settings_rates

GATE_NAME = "cost"

Period = Literal["day", "month"]

__all__ = ["Budget", "CostEstimate", "cost_gate", "estimate"]


@dataclass(frozen=True)
class Budget:
    """A spending cap as the requester or admin wrote it: `Budget(Decimal(500), "INR", "day")`."""

    amount: Decimal
    currency: str = "USD"
    period: Period = "month"

    def __post_init__(self) -> None:
        if self.period not in ("day", "month"):
            raise ValueError(f"budget period must be 'day' or 'month', not {self.period!r}")
        object.__setattr__(self, "amount", Decimal(str(self.amount)))
        object.__setattr__(self, "currency", self.currency.upper())

    def describe(self) -> str:
        return f"{fmt(self.amount, self.currency)}/{self.period}"

    @classmethod
    def parse(cls, text: str) -> Budget:
        """`"₹500/day"`, `"$1,200 per month"`, `"50 EUR/mo"`, `"INR 500 / day"`."""
        match = _BUDGET_RE.match(text)
        if not match:
            raise ValueError(f"not a budget: {text!r} (expected e.g. ₹500/day or $1,200/month)")
        code = match["code"] or match["code2"] or _SYMBOL_CODES.get(match["symbol"] or "$")
        period: Period = "day" if match["period"].lower().startswith("d") else "month"
        return cls(Decimal(match["amount"].replace(",", "")), code.upper(), period)


_SYMBOL_CODES = {symbol: code for code, symbol in SYMBOLS.items()}
_BUDGET_RE = re.compile(
    r"^\s*(?P<symbol>[$₹€£])?\s*(?P<code>[A-Za-z]{3})?\s*(?P<amount>\d[\d,]*(?:\.\d+)?)\s*(?P<code2>[A-Za-z]{3})?"
    r"\s*(?:/|per|a)\s*(?P<period>day|d|month|mo|mth)\s*$",
    re.IGNORECASE,
)


def _check(
    result: GateResult,
    est: CostEstimate,
    *,
    label: str,
    budget: Budget,
    rates: Mapping[str, object],
) -> dict:
    """Compare the delta with one budget in the budget's own currency and period."""
    delta_usd = est.daily_usd if budget.period == "day" else est.monthly_usd
    delta = convert(delta_usd, budget.currency, rates)
    exceeded = delta > budget.amount
    if exceeded:
        result.add(
            Finding(
                rule="cost_budget_exceeded",
                message=(
                    f"This change adds {fmt(delta, budget.currency)}/{budget.period}, "
                    f"over the {label} of {budget.describe()}"
                ),
                severity=Severity.HIGH,
                address=label,
            )
        )
    return {
        "name": label,
        "amount": float(budget.amount),
        "currency": budget.currency,
        "period": budget.period,
        "delta": float(quantize(delta, 2)),
        "exceeded": exceeded,
    }


def cost_gate(
    plan_json: dict,
    *,
    region: str,
    request_budget: Budget | None = None,
    account_daily_limit: Decimal | None = None,
    account_monthly_limit: Decimal | None = None,
    currency: str = "USD",
    rates: Mapping[str, object] | None = None,
    price_source: PriceSource | None = None,
) -> GateResult:
    """Estimate the plan's cost delta and fail when it exceeds the request budget or an account limit.

    `account_*_limit` are amounts in `currency`, which is also the currency the details are shown in.
    `rates` (units per USD) default to settings.GANTRY_CURRENCY_RATES.
    """
    result = GateResult(name=GATE_NAME)
    with timed(result):
        rates = rates if rates is not None else settings_rates()
        currency = currency.upper()
        rate_for(currency, rates)  # fail fast on an unknown display currency
        est = estimate(plan_json, region, price_source=price_source)

        budgets = []
        if request_budget is not None:
            budgets.append(("request budget", request_budget))
        if account_daily_limit is not None:
            budgets.append(
                ("account daily limit", Budget(Decimal(str(account_daily_limit)), currency, "day"))
            )
        if account_monthly_limit is not None:
            limit = Budget(Decimal(str(account_monthly_limit)), currency, "month")
            budgets.append(("account monthly limit", limit))
        checks = [_check(result, est, label=label, budget=b, rates=rates) for label, b in budgets]

        for line in est.unpriced:
            if line.action == "delete":
                continue  # removing something unpriced cannot push spending over a limit
            result.add(
                Finding(
                    rule="cost_unpriced",
                    message=f"{line.address} ({line.type}) has no price: {line.reason}; not in the total",
                    severity=Severity.MEDIUM,
                    address=line.address,
                    blocking=False,
                )
            )

        result.details = {**est.to_dict(currency, rates), "budgets": checks}
        monthly = convert(est.monthly_usd, currency, rates)
        daily = convert(est.daily_usd, currency, rates)
        sign = "+" if monthly > 0 else ""
        result.summary = f"{sign}{fmt(monthly, currency)}/month ({sign}{fmt(daily, currency)}/day)"
        if est.unpriced:
            result.summary += f"; {len(est.unpriced)} resource(s) unpriced"
        if any(c["exceeded"] for c in checks):
            result.summary += "; over budget"
    return result
