"""Cost estimate and cost gate. Expected figures are written out from the snapshot's list prices."""

from __future__ import annotations

import copy
import json
from decimal import Decimal as D
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from iac.gates.base import Status
from iac.gates.cost import Budget, cost_gate, estimate
from iac.pricing.catalog import (
    AwsPriceListSource,
    ChainedPriceSource,
    InMemoryPriceCache,
    PriceKey,
    SnapshotPriceSource,
    snapshot,
)
from iac.pricing.estimate import Kind
from iac.pricing.money import convert, fmt, monthly_to_daily, rate_for

PLANS = Path(__file__).parent / "fixtures" / "plans"
RATES = {"USD": 1, "INR": 84.0, "EUR": 0.92}
WEB = "module.web"


def load(name: str) -> dict:
    return json.loads((PLANS / f"{name}.json").read_text())


def only(plan: dict, *names: str) -> dict:
    """The plan restricted to the given resource addresses (inside module.web)."""
    plan = copy.deepcopy(plan)
    keep = {f"{WEB}.{n}" for n in names}
    plan["resource_changes"] = [rc for rc in plan["resource_changes"] if rc["address"] in keep]
    return plan


def three_t3_medium_alb_nat() -> dict:
    """3 x t3.medium behind an ALB, plus a NAT gateway, in ap-south-1 (no EBS in the template)."""
    plan = only(
        load("web_tier_compliant"),
        "aws_launch_template.app",
        "aws_autoscaling_group.app",
        "aws_lb.this",
        "aws_nat_gateway.this",
    )
    lt = next(rc for rc in plan["resource_changes"] if rc["type"] == "aws_launch_template")
    lt["change"]["after"]["block_device_mappings"] = []
    return plan


# ap-south-1 snapshot prices used below, in USD: t3.medium 0.0448/h, ALB 0.0239/h, ALB LCU 0.008/h,
# NAT gateway 0.056/h, gp3 0.0912/GB-month, public IPv4 0.005/h, KMS key 1.00/month.
HAND_3_T3_ALB_NAT = (
    3 * D("0.0448") * 730  # 98.112  three t3.medium instances
    + D("0.0239") * 730  # 17.447  ALB hours
    + 1 * D("0.008") * 730  # 5.840   one LCU on average (documented assumption)
    + D("0.056") * 730  # 40.880  NAT gateway hours
)  # = 162.279 USD/month


def test_snapshot_prices_match_the_hand_computation() -> None:
    price = snapshot().price
    assert price(PriceKey("ec2", "ap-south-1", "t3.medium")).usd == D("0.0448")
    assert price(PriceKey("elb", "ap-south-1", "alb")).usd == D("0.0239")
    assert price(PriceKey("elb", "ap-south-1", "alb_lcu")).usd == D("0.008")
    assert price(PriceKey("nat", "ap-south-1", "gateway")).usd == D("0.056")
    assert price(PriceKey("ebs", "ap-south-1", "gp3")).usd == D("0.0912")
    assert snapshot().as_of == "2025-01-15"


def test_three_t3_medium_alb_nat_equals_hand_computation() -> None:
    est = estimate(three_t3_medium_alb_nat(), "ap-south-1")
    assert D("162.279") == HAND_3_T3_ALB_NAT
    assert est.monthly_usd == HAND_3_T3_ALB_NAT
    assert est.daily_usd == HAND_3_T3_ALB_NAT * 24 / 730
    assert est.line(f"{WEB}.aws_autoscaling_group.app").monthly_usd == D("98.112")
    assert est.line(f"{WEB}.aws_lb.this").monthly_usd == D("23.287")
    assert est.line(f"{WEB}.aws_nat_gateway.this").monthly_usd == D("40.880")
    assert est.line(f"{WEB}.aws_launch_template.app").kind == Kind.FREE
    assert est.unpriced == []


def test_full_web_tier_breakdown() -> None:
    est = estimate(load("web_tier_compliant"), "ap-south-1")
    ebs = 3 * 20 * D("0.0912")  # 5.472: the template's 20 GB gp3 volume on each of the 3 instances
    eip = D("0.005") * 730  # 3.65
    kms = D("1.00")
    assert est.monthly_usd == HAND_3_T3_ALB_NAT + ebs + eip + kms  # 172.401
    kinds = {line.address.removeprefix(f"{WEB}."): line.kind for line in est.lines}
    assert kinds["aws_s3_bucket.logs"] == Kind.USAGE_BASED
    assert kinds["aws_cloudwatch_log_group.app"] == Kind.USAGE_BASED
    assert kinds["aws_security_group.alb"] == Kind.FREE
    assert kinds["aws_s3_bucket_public_access_block.logs"] == Kind.FREE
    details = est.to_dict()
    assert {
        "address": f"{WEB}.aws_s3_bucket.logs",
        "type": "aws_s3_bucket",
        "note": "usage-based, not estimated",
    } in (details["usage_based"])
    asg = next(x for x in details["lines"] if x["type"] == "aws_autoscaling_group")
    assert asg["monthly_usd"] == 103.584
    assert asg["hourly_usd"] == pytest.approx(103.584 / 730, abs=1e-6)
    assert [c["label"] for c in asg["components"]] == ["t3.medium x 3", "/dev/xvda gp3 20 GB x 3"]
    json.dumps(details)


def test_update_and_delete_are_deltas() -> None:
    # ASG 3 -> 5 instances; EIP replaced (same price); log group deleted (usage-based); rest no-op.
    est = estimate(load("web_tier_scale_out"), "ap-south-1")
    per_instance = D("0.0448") * 730 + 20 * D("0.0912")  # 32.704 + 1.824
    assert est.monthly_usd == 2 * per_instance  # 69.056
    assert {line.address: line.action for line in est.lines} == {
        f"{WEB}.aws_autoscaling_group.app": "update",
        f"{WEB}.aws_eip.nat": "replace",
        f"{WEB}.aws_cloudwatch_log_group.app": "delete",
    }
    assert est.line(f"{WEB}.aws_eip.nat").monthly_usd == 0


def test_launch_template_change_prices_its_unchanged_asg() -> None:
    # Only the template changes (t3.medium -> t3.large); the ASG is no-op but its instances change.
    plan = load("web_tier_scale_out")
    for rc in plan["resource_changes"]:
        rc["change"]["actions"] = ["no-op"]
        rc["change"]["after"] = copy.deepcopy(rc["change"]["before"])
    lt = next(rc for rc in plan["resource_changes"] if rc["type"] == "aws_launch_template")
    lt["change"]["actions"] = ["update"]
    lt["change"]["after"]["instance_type"] = "t3.large"
    est = estimate(plan, "ap-south-1")
    assert [(x.address, x.action) for x in est.lines] == [
        (f"{WEB}.aws_launch_template.app", "update"),
        (f"{WEB}.aws_autoscaling_group.app", "update"),
    ]
    assert est.monthly_usd == 3 * (D("0.0896") - D("0.0448")) * 730  # 98.112


def test_delete_subtracts() -> None:
    plan = three_t3_medium_alb_nat()
    for rc in plan["resource_changes"]:
        rc["change"]["before"], rc["change"]["after"] = rc["change"]["after"], None
        rc["change"]["actions"] = ["delete"]
    est = estimate(plan, "ap-south-1")
    assert est.monthly_usd == -HAND_3_T3_ALB_NAT
    result = cost_gate(plan, region="ap-south-1", request_budget=Budget(D(1), "USD", "day"), rates=RATES)
    assert result.status == Status.PASS
    assert result.summary.startswith("-$162.28/month")


def test_currency_conversion_in_details() -> None:
    result = cost_gate(three_t3_medium_alb_nat(), region="ap-south-1", currency="INR", rates=RATES)
    totals = result.details["totals"]
    assert totals["monthly_usd"] == 162.279
    assert totals["monthly"] == 13631.436  # 162.279 x 84
    assert totals["daily"] == pytest.approx(float(D("162.279") * 24 / 730 * 84), abs=1e-4)  # ~448.16
    assert result.details["currency"] == "INR"
    assert result.summary == "+₹13,631.44/month (+₹448.16/day)"
    alb = next(x for x in result.details["lines"] if x["type"] == "aws_lb")
    assert alb["monthly"] == pytest.approx(23.287 * 84)
    assert alb["hourly"] == pytest.approx(23.287 * 84 / 730, abs=1e-6)
    assert alb["hourly_usd"] == pytest.approx(0.0319, abs=1e-6)  # 0.0239 + 0.008


def test_request_budget_in_rupees_per_day() -> None:
    plan = three_t3_medium_alb_nat()  # ~₹448.16/day
    ok = cost_gate(plan, region="ap-south-1", request_budget=Budget(D(500), "INR", "day"), rates=RATES)
    assert ok.status == Status.PASS
    over = cost_gate(plan, region="ap-south-1", request_budget=Budget(D(400), "INR", "day"), rates=RATES)
    assert over.status == Status.FAIL
    [finding] = over.findings
    assert finding.rule == "cost_budget_exceeded"
    assert "₹448.16/day" in finding.message and "₹400.00/day" in finding.message
    [check] = over.details["budgets"]
    assert check == {
        "name": "request budget",
        "amount": 400.0,
        "currency": "INR",
        "period": "day",
        "delta": 448.16,
        "exceeded": True,
    }


def test_account_limits() -> None:
    plan = three_t3_medium_alb_nat()  # $162.279/month, $5.335/day
    result = cost_gate(
        plan,
        region="ap-south-1",
        request_budget=Budget(D(200), "USD", "month"),
        account_daily_limit=D(10),
        account_monthly_limit=D(150),
        rates=RATES,
    )
    assert result.status == Status.FAIL
    assert [(c["name"], c["exceeded"]) for c in result.details["budgets"]] == [
        ("request budget", False),
        ("account daily limit", False),
        ("account monthly limit", True),
    ]
    assert {f.address for f in result.findings} == {"account monthly limit"}


def test_eur_limits_are_compared_in_eur() -> None:
    plan = three_t3_medium_alb_nat()  # 162.279 x 0.92 = 149.30 EUR/month
    args = {"region": "ap-south-1", "currency": "EUR", "rates": RATES}
    assert cost_gate(plan, account_monthly_limit=D(150), **args).status == Status.PASS
    assert cost_gate(plan, account_monthly_limit=D(149), **args).status == Status.FAIL


def test_unpriced_resources_are_listed_not_zero() -> None:
    plan = three_t3_medium_alb_nat()
    cache = copy.deepcopy(plan["resource_changes"][0])
    cache.update(address=f"{WEB}.aws_elasticache_cluster.c", type="aws_elasticache_cluster", name="c")
    cache["change"]["after"] = {"node_type": "cache.t3.micro", "num_cache_nodes": 1}
    oracle = copy.deepcopy(cache)
    oracle.update(address=f"{WEB}.aws_db_instance.o", type="aws_db_instance", name="o")
    oracle["change"]["after"] = {
        "engine": "oracle-se2",
        "instance_class": "db.m5.large",
        "allocated_storage": 100,
    }
    plan["resource_changes"] += [cache, oracle]

    result = cost_gate(plan, region="ap-south-1", request_budget=Budget(D(1000)), rates=RATES)
    assert result.status == Status.WARN  # within budget, but the approver must see what is unpriced
    assert result.details["unpriced"] == [
        {
            "address": f"{WEB}.aws_elasticache_cluster.c",
            "type": "aws_elasticache_cluster",
            "reason": "aws_elasticache_cluster is not in the price catalog",
        },
        {
            "address": f"{WEB}.aws_db_instance.o",
            "type": "aws_db_instance",
            "reason": "engine oracle-se2 is not in the price catalog",
        },
    ]
    assert result.details["totals"]["monthly_usd"] == 162.279  # unpriced lines are not counted
    assert {(f.rule, f.blocking) for f in result.findings} == {("cost_unpriced", False)}
    assert "2 resource(s) unpriced" in result.summary


def test_region_missing_from_the_snapshot_is_unpriced() -> None:
    est = estimate(three_t3_medium_alb_nat(), "sa-east-1")
    assert est.monthly_usd == 0
    assert {line.reason for line in est.unpriced} == {
        "no ec2 price for t3.medium in sa-east-1",
        "no elb price for alb in sa-east-1",
        "no nat price for gateway in sa-east-1",
    }


def test_unknown_launch_template_is_unpriced() -> None:
    plan = only(load("web_tier_compliant"), "aws_autoscaling_group.app")
    [line] = estimate(plan, "ap-south-1").lines
    assert (line.kind, line.reason) == (Kind.UNPRICED, "its launch template is not in this plan")


def test_rds_multi_az_doubles_instance_and_storage() -> None:
    plan = load("data_tier_compliant")
    single = estimate(plan, "us-east-1").line("module.db.aws_db_instance.this")
    # db.t4g.medium PostgreSQL 0.065/h; gp3 storage 0.115/GB-month; 50 GB
    assert single.monthly_usd == D("0.065") * 730 + 50 * D("0.115")  # 47.45 + 5.75
    plan["resource_changes"][1]["change"]["after"]["multi_az"] = True
    multi = estimate(plan, "us-east-1").line("module.db.aws_db_instance.this")
    assert multi.monthly_usd == 2 * single.monthly_usd


def test_eks_cluster_and_node_group() -> None:
    est = estimate(load("eks_cluster_compliant"), "us-east-1")
    assert est.line("module.eks.aws_eks_cluster.this").monthly_usd == D("0.10") * 730
    # 2 x t3.large (0.0832/h) with a 50 GB gp2 disk each (0.10/GB-month)
    assert est.line("module.eks.aws_eks_node_group.default").monthly_usd == 2 * D(
        "0.0832"
    ) * 730 + 2 * 50 * D("0.10")


def test_gp3_extra_iops_and_throughput() -> None:
    plan = {
        "resource_changes": [
            {
                "address": "aws_ebs_volume.data",
                "mode": "managed",
                "type": "aws_ebs_volume",
                "name": "data",
                "change": {
                    "actions": ["create"],
                    "after": {"size": 100, "type": "gp3", "iops": 6000, "throughput": 250, "encrypted": True},
                },
            }
        ]
    }
    # us-east-1: 100 GB x 0.08 + 3000 IOPS x 0.005 + 125 MB/s x 0.04
    assert estimate(plan, "us-east-1").monthly_usd == 100 * D("0.08") + 3000 * D("0.005") + 125 * D("0.04")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("₹500/day", Budget(D(500), "INR", "day")),
        ("$1,200 per month", Budget(D(1200), "USD", "month")),
        ("50 EUR/mo", Budget(D(50), "EUR", "month")),
        ("INR 500 / day", Budget(D(500), "INR", "day")),
        ("£12.50/month", Budget(D("12.50"), "GBP", "month")),
        ("300/month", Budget(D(300), "USD", "month")),
    ],
)
def test_budget_parse(text: str, expected: Budget) -> None:
    assert Budget.parse(text) == expected


def test_budget_parse_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="not a budget"):
        Budget.parse("cheap please")


def test_money_helpers() -> None:
    assert convert(D(10), "INR", RATES) == D(840)
    assert rate_for("usd", {}) == 1
    assert fmt(D("1234.5"), "INR") == "₹1,234.50"
    assert fmt(D("-3.2"), "USD") == "-$3.20"
    assert monthly_to_daily(D(730)) == 24
    with pytest.raises(ValueError, match="JPY"):
        rate_for("JPY", RATES)
    with pytest.raises(ValueError, match="period"):
        Budget(D(1), "USD", "week")  # type: ignore[arg-type]


# --- live Price List API source ---------------------------------------------------------------------------


def product(usd: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": "t3.medium", "regionCode": "ap-south-1"}},
            "terms": {
                "OnDemand": {
                    "SKU.JRTCKXETXF": {
                        "priceDimensions": {
                            "SKU.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}
                        }
                    }
                }
            },
        }
    )


@pytest.fixture
def pricing_client():
    client = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


EC2_FILTERS = {
    "regionCode": "ap-south-1",
    "instanceType": "t3.medium",
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}


def test_live_source_reads_and_caches_prices(pricing_client) -> None:
    client, stub = pricing_client
    stub.add_response(
        "get_products",
        {"PriceList": [product("0.0450000000")], "FormatVersion": "aws_v1"},
        {
            "ServiceCode": "AmazonEC2",
            "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in EC2_FILTERS.items()],
            "FormatVersion": "aws_v1",
            "MaxResults": 10,
        },
    )
    live = AwsPriceListSource(client, cache=InMemoryPriceCache())
    key = PriceKey("ec2", "ap-south-1", "t3.medium")
    first = live.price(key)
    assert first is not None and (first.usd, first.unit, first.source) == (
        D("0.045"),
        "hour",
        "aws-price-list-api",
    )
    assert live.price(key) == first  # from the cache: the stub has no second response queued
    # Services the live source does not cover fall through to the snapshot without an API call.
    chained = ChainedPriceSource([live, snapshot()])
    assert chained.price(PriceKey("nat", "ap-south-1", "gateway")).source == "snapshot 2025-01-15"


def test_estimate_with_live_prices(pricing_client) -> None:
    client, stub = pricing_client
    stub.add_response("get_products", {"PriceList": [product("0.05")], "FormatVersion": "aws_v1"})
    source = ChainedPriceSource([AwsPriceListSource(client), snapshot()])
    est = estimate(three_t3_medium_alb_nat(), "ap-south-1", price_source=source)
    assert est.line(f"{WEB}.aws_autoscaling_group.app").monthly_usd == 3 * D("0.05") * 730
    assert est.price_sources == ["aws-price-list-api", "snapshot 2025-01-15"]


def test_live_source_errors_fall_back_to_the_snapshot(pricing_client) -> None:
    client, stub = pricing_client
    stub.add_client_error("get_products", service_error_code="ThrottlingException", http_status_code=400)
    source = ChainedPriceSource([AwsPriceListSource(client), snapshot()])
    assert source.price(PriceKey("ec2", "ap-south-1", "t3.medium")).usd == D("0.0448")


def test_live_source_ignores_ambiguous_and_missing_products(pricing_client) -> None:
    client, stub = pricing_client
    stub.add_response(
        "get_products", {"PriceList": [product("0.04"), product("0.05")], "FormatVersion": "aws_v1"}
    )
    stub.add_response("get_products", {"PriceList": [], "FormatVersion": "aws_v1"})
    live = AwsPriceListSource(client)
    assert live.price(PriceKey("ec2", "ap-south-1", "t3.medium")) is None
    assert live.price(PriceKey("rds", "ap-south-1", "postgres/db.x9.huge")) is None
    # The miss is cached: asking again does not call the API (no responses left in the stub).
    assert live.price(PriceKey("rds", "ap-south-1", "postgres/db.x9.huge")) is None


def test_in_memory_cache_expires() -> None:
    now = [0.0]
    cache = InMemoryPriceCache(clock=lambda: now[0])
    cache.set("k", "1", ttl_seconds=10)
    now[0] = 9.9
    assert cache.get("k") == "1"
    now[0] = 10.0
    assert cache.get("k") is None


def test_snapshot_covers_the_curated_types() -> None:
    snap = SnapshotPriceSource.from_file()
    assert set(snap.regions()) >= {
        "ap-south-1",
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-1",
    }
    for region in snap.regions():
        for itype in (
            "t3.micro",
            "t3a.large",
            "t4g.medium",
            "m5.xlarge",
            "m6i.large",
            "c5.large",
            "c6i.xlarge",
            "r5.large",
        ):
            assert snap.price(PriceKey("ec2", region, itype)), (region, itype)
        for sku in (
            "postgres/db.t3.micro",
            "mysql/db.t4g.small",
            "postgres/db.m5.large",
            "mysql/db.r5.xlarge",
        ):
            assert snap.price(PriceKey("rds", region, sku)), (region, sku)
        for service, sku in (
            ("eks", "cluster"),
            ("elb", "alb"),
            ("nat", "gateway"),
            ("ebs", "gp3"),
            ("kms", "key"),
        ):
            assert snap.price(PriceKey(service, region, sku)), (region, service)


def test_rates_default_to_settings() -> None:
    from django.conf import settings

    from iac.pricing.money import settings_rates

    rates = settings_rates()
    assert rate_for("USD", rates) == 1
    if settings.configured:  # under pytest-django; plain `pytest -p no:django` falls back to USD only
        assert rates == settings.GANTRY_CURRENCY_RATES
        result = cost_gate(three_t3_medium_alb_nat(), region="ap-south-1", currency="INR")
        assert result.details["totals"]["monthly"] == float(
            round(D("162.279") * D(str(settings.GANTRY_CURRENCY_RATES["INR"])), 4)
        )


def test_eks_node_group_with_launch_template_volumes() -> None:
    plan = load("eks_cluster_compliant")
    ng = plan["resource_changes"][2]
    ng["change"]["after"]["launch_template"] = [{"id": "lt-0eks", "name": "acme-dev-node", "version": "1"}]
    lt = copy.deepcopy(ng)
    lt.update(address="module.eks.aws_launch_template.node", type="aws_launch_template", name="node")
    lt["change"]["after"] = {
        "id": "lt-0eks",
        "name": "acme-dev-node",
        "block_device_mappings": [
            {"device_name": "/dev/xvda", "ebs": [{"volume_size": 40, "volume_type": "gp3"}]},
        ],
    }
    plan["resource_changes"].append(lt)
    line = estimate(plan, "us-east-1").line("module.eks.aws_eks_node_group.default")
    # 2 x t3.large (0.0832/h) with the template's 40 GB gp3 volume each (0.08/GB-month)
    assert line.monthly_usd == 2 * D("0.0832") * 730 + 2 * 40 * D("0.08")
    assert "node volumes from module.eks.aws_launch_template.node" in line.notes
