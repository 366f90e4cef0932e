"""Where prices come from: a bundled snapshot of list prices, optionally the live AWS Price List API.

A price is looked up by `PriceKey(service, region, sku)`; `sku` is service-specific ("t3.medium",
"postgres/db.t4g.medium", "gp3", "alb_lcu"). Sources return `None` when they do not know a price; the
estimator then reports the resource as unpriced instead of counting it as zero.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

SNAPSHOT_PATH = Path(__file__).resolve().parent / "data" / "aws_prices_snapshot.json"


@dataclass(frozen=True)
class PriceKey:
    service: str  # ec2, rds, rds_storage, ebs, ebs_iops, ebs_throughput, eks, elb, nat, kms, eip, cloudwatch
    region: str
    sku: str

    def cache_key(self) -> str:
        return f"price:{self.service}:{self.region}:{self.sku}"


@dataclass(frozen=True)
class Price:
    usd: Decimal
    unit: str  # "hour", "month", "gb-month", "iops-month", "mbps-month"
    source: str  # "snapshot 2025-01-15" or "aws-price-list-api"


# Unit per service in both sources, so a live price and a snapshot price are interchangeable.
UNITS = {
    "ec2": "hour",
    "rds": "hour",
    "rds_storage": "gb-month",
    "ebs": "gb-month",
    "ebs_iops": "iops-month",
    "ebs_throughput": "mbps-month",
    "eks": "hour",
    "elb": "hour",
    "nat": "hour",
    "kms": "month",
    "eip": "hour",
    "cloudwatch": "month",
}


class PriceSource(Protocol):
    def price(self, key: PriceKey) -> Price | None: ...


class PriceCache(Protocol):
    """Key/value cache for live prices; a database-backed implementation can replace the in-memory one."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl_seconds: int) -> None: ...


class InMemoryPriceCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            expires, value = item
            if self._clock() >= expires:
                del self._items[key]
                return None
            return value

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        with self._lock:
            self._items[key] = (self._clock() + ttl_seconds, value)


class SnapshotPriceSource:
    """The bundled, dated snapshot (`data/aws_prices_snapshot.json`)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.as_of: str = document["as_of"]
        self.source_label = f"snapshot {self.as_of}"

    @classmethod
    def from_file(cls, path: Path | str = SNAPSHOT_PATH) -> SnapshotPriceSource:
        # Decimal parsing keeps list prices exact (0.0448, not 0.044799999...).
        return cls(json.loads(Path(path).read_text(encoding="utf-8"), parse_float=Decimal))

    def regions(self) -> list[str]:
        return sorted(self.document["regions"])

    def price(self, key: PriceKey) -> Price | None:
        node: Any = self.document["regions"].get(key.region, {}).get(key.service)
        for part in key.sku.split("/"):
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        if node is None or isinstance(node, dict):
            return None
        return Price(usd=Decimal(node), unit=UNITS[key.service], source=self.source_label)


class ChainedPriceSource:
    """First source that knows the price wins (live first, snapshot as the fallback)."""

    def __init__(self, sources: Iterable[PriceSource]) -> None:
        self.sources = list(sources)

    def price(self, key: PriceKey) -> Price | None:
        for source in self.sources:
            found = source.price(key)
            if found is not None:
                return found
        return None


# Price List API attribute values for the engines the estimator prices.
_RDS_ENGINES = {"postgres": "PostgreSQL", "mysql": "MySQL"}


class AwsPriceListSource:
    """Live on-demand prices from the AWS Price List API (`pricing:GetProducts`), cached.

    Covers EC2 instances and RDS instances (the prices that vary most); everything else returns None so
    a `ChainedPriceSource` falls back to the snapshot. Errors (no credentials, throttling, no network)
    are logged and answered with None: a missing live price never blocks an estimate.
    """

    LIVE = "aws-price-list-api"
    MISSING = ""  # cached marker: the API has no such product

    def __init__(
        self, client: Any = None, *, cache: PriceCache | None = None, ttl_seconds: int = 86400
    ) -> None:
        self._client = client
        self.cache: PriceCache = cache if cache is not None else InMemoryPriceCache()
        self.ttl_seconds = ttl_seconds

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            # The Price List API is served from a few regions only; us-east-1 answers for all.
            self._client = boto3.client("pricing", region_name="us-east-1")
        return self._client

    def price(self, key: PriceKey) -> Price | None:
        filters = self._filters(key)
        if filters is None:
            return None
        cached = self.cache.get(key.cache_key())
        if cached is not None:
            return None if cached == self.MISSING else Price(Decimal(cached), UNITS[key.service], self.LIVE)
        try:
            amount = self._fetch(filters)
        except Exception as exc:  # botocore raises many types; the snapshot is the answer then
            log.warning("live price lookup failed for %s: %s", key, exc)
            return None
        # Cache misses too (for a shorter time) so an unknown type does not hit the API every plan.
        ttl = self.ttl_seconds if amount is not None else max(self.ttl_seconds // 24, 60)
        self.cache.set(key.cache_key(), self.MISSING if amount is None else str(amount), ttl)
        return None if amount is None else Price(amount, UNITS[key.service], self.LIVE)

    def _filters(self, key: PriceKey) -> tuple[str, dict[str, str]] | None:
        if key.service == "ec2":
            return "AmazonEC2", {
                "regionCode": key.region,
                "instanceType": key.sku,
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "licenseModel": "No License required",
            }
        if key.service == "rds":
            engine, _, instance_class = key.sku.partition("/")
            if engine not in _RDS_ENGINES or not instance_class:
                return None
            return "AmazonRDS", {
                "regionCode": key.region,
                "instanceType": instance_class,
                "databaseEngine": _RDS_ENGINES[engine],
                "deploymentOption": "Single-AZ",
            }
        return None

    def _fetch(self, filters: tuple[str, dict[str, str]]) -> Decimal | None:
        service_code, fields = filters
        response = self.client.get_products(
            ServiceCode=service_code,
            Filters=[{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in fields.items()],
            FormatVersion="aws_v1",
            MaxResults=10,
        )
        prices = {p for item in response.get("PriceList", []) if (p := _on_demand_usd(item)) is not None}
        # Several products can match (e.g. reserved-capacity variants); only an unambiguous price is used.
        if len(prices) == 1:
            return prices.pop()
        if prices:
            log.warning("ambiguous live prices for %s: %s", fields, sorted(prices))
        return None


def _on_demand_usd(item: str | dict) -> Decimal | None:
    """The hourly/unit USD price of a Price List product document, if it has exactly one non-zero."""
    product = json.loads(item) if isinstance(item, str) else item
    amounts = [
        Decimal(dim["pricePerUnit"]["USD"])
        for term in product.get("terms", {}).get("OnDemand", {}).values()
        for dim in term.get("priceDimensions", {}).values()
        if "USD" in dim.get("pricePerUnit", {})
    ]
    non_zero = [a for a in amounts if a > 0]
    return non_zero[0] if len(non_zero) == 1 else None


@cache
def snapshot() -> SnapshotPriceSource:
    return SnapshotPriceSource.from_file()


def default_price_source(live: PriceSource | None = None) -> PriceSource:
    """The snapshot, or `live` backed by the snapshot when a live source is injected."""
    return snapshot() if live is None else ChainedPriceSource([live, snapshot()])
