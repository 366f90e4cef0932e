"""The cost delta of an action plan: stopping a priced instance saves its on-demand price, starting it
costs it, from the same price catalogue the Terraform cost gate uses."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from iac.pricing import PriceKey, default_price_source
from iac.pricing.estimate import _RDS_ENGINE_TABLE as RDS_ENGINE_TABLE

from .actions.base import ActionSpec, Target

HOURS_PER_DAY = Decimal(24)
DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12, as a monthly bill averages


def _price_key(target: Target) -> tuple[PriceKey | None, int, str]:
    """(price key, copies, label) for a billed instance; key None when it cannot be priced."""
    state = target.state
    if target.state.get("instance_type"):
        itype = state["instance_type"]
        return PriceKey("ec2", target.region, itype), 1, f"{target.id} ({itype})"
    if state.get("instance_class"):
        klass, engine = state["instance_class"], state.get("engine")
        table = RDS_ENGINE_TABLE.get(engine or "")
        copies = 2 if state.get("multi_az") else 1
        label = f"{target.id} ({klass} {engine})"
        return (PriceKey("rds", target.region, f"{table}/{klass}") if table else None), copies, label
    return None, 0, target.id


def cost_delta(changes: Iterable[tuple[ActionSpec, list[Target]]]) -> dict[str, Any]:
    source = default_price_source()
    hourly = Decimal(0)
    priced: list[str] = []
    unpriced: list[str] = []
    scaling = False
    for spec, targets in changes:
        scaling = scaling or spec.count_field is not None
        if not spec.cost_sign:
            continue
        for target in targets:
            key, copies, label = _price_key(target)
            price = source.price(key) if key else None
            if price is None:
                unpriced.append(label)
                continue
            hourly += spec.cost_sign * price.usd * copies
            priced.append(f"{'+' if spec.cost_sign > 0 else '-'}{label} at {price.usd}/h")
    daily = (hourly * HOURS_PER_DAY).quantize(Decimal("0.01"))
    monthly = (hourly * HOURS_PER_DAY * DAYS_PER_MONTH).quantize(Decimal("0.01"))
    basis = "On-demand compute price × 24 h per day"
    if priced:
        basis += ": " + "; ".join(priced)
    else:
        basis += ": no action here starts or stops a priced instance"
    if unpriced:
        basis += f". No price known for {', '.join(unpriced)}; counted as 0"
    if scaling:
        basis += ". The cost of the tasks or instances a new desired count adds or removes is not estimated"
    basis += ". Storage, snapshots, tasks and data transfer are not estimated."
    return {"daily": str(daily), "monthly": str(monthly), "currency": "USD", "basis": basis}
