"""Price catalog (bundled snapshot + optional live AWS Price List API) and plan cost estimates.

from iac.pricing import estimate
est = estimate(plan_json, "ap-south-1")   # CostEstimate: lines, monthly_usd, daily_usd, unpriced
"""

from iac.pricing.catalog import (
    AwsPriceListSource,
    ChainedPriceSource,
    InMemoryPriceCache,
    Price,
    PriceCache,
    PriceKey,
    PriceSource,
    SnapshotPriceSource,
    default_price_source,
)
from iac.pricing.estimate import CostEstimate, CostLine, Kind, estimate

__all__ = [
    "AwsPriceListSource",
    "ChainedPriceSource",
    "CostEstimate",
    "CostLine",
    "InMemoryPriceCache",
    "Kind",
    "Price",
    "PriceCache",
    "PriceKey",
    "PriceSource",
    "SnapshotPriceSource",
    "default_price_source",
    "estimate",
]
