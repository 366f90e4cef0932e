"""Monthly/daily cost delta of a Terraform plan (`terraform show -json`), resource by resource.

Every changed resource becomes one `CostLine` of one kind:
- priced: list price x quantity (instance-hours, GB-months, keys...), signed (deletes subtract);
- free: AWS does not bill the resource itself (VPC, security group, listener, launch template...);
- usage_based: billed only by usage the plan cannot know (S3 storage, log ingestion) - listed, priced 0;
- unpriced: a billed resource with no price available - listed as such, never counted as zero.

A month is 730 hours and a day 24 hours. Assumptions (load balancer capacity units, default disk sizes)
are written on the lines they affect and in `ASSUMPTIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from iac.pricing.catalog import PriceKey, PriceSource, default_price_source
from iac.pricing.money import HOURS_PER_MONTH, convert, monthly_to_daily, monthly_to_hourly, quantize

ALB_LCU_PER_HOUR = Decimal(1)  # average LCUs an ALB consumes; real use depends on traffic
NLB_LCU_PER_HOUR = Decimal(1)
EKS_DEFAULT_INSTANCE_TYPE = "t3.medium"  # what EKS uses when a node group sets no instance_types
EKS_DEFAULT_DISK_GB = 20
GP3_FREE_IOPS = 3000
GP3_FREE_THROUGHPUT = 125

ASSUMPTIONS = [
    "730 hours per month, 24 hours per day; on-demand list prices, Linux, shared tenancy.",
    f"Application/Network Load Balancers: {ALB_LCU_PER_HOUR} LCU per hour on average (traffic-dependent).",
    "NAT gateway and load balancer data processing, S3 storage and requests, CloudWatch Logs ingestion: "
    "usage-based, not estimated.",
    f"EKS node groups without instance_types run {EKS_DEFAULT_INSTANCE_TYPE}; without a launch template "
    f"each node has a {EKS_DEFAULT_DISK_GB} GB gp2 disk unless disk_size says otherwise.",
    "Auto Scaling groups run desired_capacity instances (min_size when unset) of their launch "
    "template's instance type, each with the template's EBS volumes.",
]


class Kind(StrEnum):
    PRICED = "priced"
    FREE = "free"
    USAGE_BASED = "usage_based"
    UNPRICED = "unpriced"


@dataclass(frozen=True)
class Component:
    label: str  # "t3.medium x 3"
    quantity: Decimal
    unit: str
    unit_usd: Decimal
    monthly_usd: Decimal  # signed: components of the state being removed are negative
    source: str

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "quantity": float(self.quantity),
            "unit": self.unit,
            "unit_usd": float(self.unit_usd),
            "monthly_usd": _num(self.monthly_usd),
            "source": self.source,
        }


@dataclass
class CostLine:
    address: str
    type: str
    action: str  # create, update, replace, delete
    kind: Kind
    monthly_usd: Decimal = Decimal(0)  # delta; 0 unless priced
    components: list[Component] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reason: str = ""  # why a line is unpriced

    @property
    def hourly_usd(self) -> Decimal:
        return monthly_to_hourly(self.monthly_usd)

    @property
    def daily_usd(self) -> Decimal:
        return monthly_to_daily(self.monthly_usd)

    def to_dict(self, currency: str = "USD", rates: dict | None = None) -> dict:
        out = {
            "address": self.address,
            "type": self.type,
            "action": self.action,
            "kind": str(self.kind),
            "hourly_usd": _num(self.hourly_usd, 6),
            "monthly_usd": _num(self.monthly_usd),
            "daily_usd": _num(self.daily_usd),
            "components": [c.to_dict() for c in self.components],
            "notes": self.notes,
        }
        if self.reason:
            out["reason"] = self.reason
        if currency.upper() != "USD":
            out["currency"] = currency.upper()
            out["hourly"] = _num(convert(self.hourly_usd, currency, rates or {}), 6)
            out["monthly"] = _num(convert(self.monthly_usd, currency, rates or {}))
            out["daily"] = _num(convert(self.daily_usd, currency, rates or {}))
        return out


@dataclass
class CostEstimate:
    region: str
    lines: list[CostLine]
    price_sources: list[str]

    @property
    def monthly_usd(self) -> Decimal:
        return sum((line.monthly_usd for line in self.lines), Decimal(0))

    @property
    def daily_usd(self) -> Decimal:
        return monthly_to_daily(self.monthly_usd)

    @property
    def hourly_usd(self) -> Decimal:
        return monthly_to_hourly(self.monthly_usd)

    @property
    def unpriced(self) -> list[CostLine]:
        return [line for line in self.lines if line.kind == Kind.UNPRICED]

    @property
    def usage_based(self) -> list[CostLine]:
        return [line for line in self.lines if line.kind == Kind.USAGE_BASED]

    def line(self, address: str) -> CostLine:
        return next(line for line in self.lines if line.address == address)

    def to_dict(self, currency: str = "USD", rates: dict | None = None) -> dict:
        totals = {
            "hourly_usd": _num(self.hourly_usd, 6),
            "monthly_usd": _num(self.monthly_usd),
            "daily_usd": _num(self.daily_usd),
        }
        if currency.upper() != "USD":
            totals["monthly"] = _num(convert(self.monthly_usd, currency, rates or {}))
            totals["daily"] = _num(convert(self.daily_usd, currency, rates or {}))
        return {
            "region": self.region,
            "currency": currency.upper(),
            "hours_per_month": int(HOURS_PER_MONTH),
            "price_sources": self.price_sources,
            "totals": totals,
            "lines": [line.to_dict(currency, rates) for line in self.lines],
            "unpriced": [{"address": x.address, "type": x.type, "reason": x.reason} for x in self.unpriced],
            "usage_based": [
                {"address": x.address, "type": x.type, "note": "usage-based, not estimated"}
                for x in self.usage_based
            ],
            "assumptions": ASSUMPTIONS,
        }


def _num(value: Decimal, places: int = 4) -> float:
    return float(quantize(value, places))


# --- classification ------------------------------------------------------------------------------------

FREE_TYPES = {
    "aws_vpc",
    "aws_subnet",
    "aws_route",
    "aws_route_table",
    "aws_route_table_association",
    "aws_main_route_table_association",
    "aws_internet_gateway",
    "aws_egress_only_internet_gateway",
    "aws_security_group",
    "aws_security_group_rule",
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
    "aws_default_security_group",
    "aws_default_route_table",
    "aws_network_acl",
    "aws_network_acl_rule",
    "aws_lb_listener",
    "aws_lb_listener_rule",
    "aws_lb_target_group",
    "aws_lb_target_group_attachment",
    "aws_alb_listener",
    "aws_alb_target_group",
    "aws_autoscaling_attachment",
    "aws_autoscaling_policy",
    "aws_autoscaling_lifecycle_hook",
    "aws_kms_alias",
    "aws_key_pair",
    "aws_db_subnet_group",
    "aws_db_parameter_group",
    "aws_db_option_group",
    "aws_eks_addon",
    "aws_eks_access_entry",
    "aws_eks_access_policy_association",
    "aws_cloudwatch_log_resource_policy",
    "aws_acm_certificate",
    "aws_acm_certificate_validation",
    "aws_wafv2_web_acl_association",
}
FREE_PREFIXES = ("aws_iam_", "aws_s3_bucket_")  # IAM; S3 bucket configuration sub-resources
USAGE_BASED_TYPES = {
    "aws_s3_bucket": "S3 storage and requests are usage-based, not estimated",
    "aws_cloudwatch_log_group": "CloudWatch Logs ingestion and storage are usage-based, not estimated",
    "aws_sqs_queue": "SQS requests are usage-based, not estimated",
    "aws_sns_topic": "SNS deliveries are usage-based, not estimated",
    "aws_lambda_function": "Lambda invocations are usage-based, not estimated",
    "aws_ecr_repository": "ECR storage is usage-based, not estimated",
    "aws_flow_log": "flow log delivery is usage-based, not estimated",
}
_RDS_ENGINE_TABLE = {"postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}
_SKIPPED_ACTIONS = {"no-op", "read", "forget"}


class _NoPrice(Exception):
    """A billed resource that cannot be priced; the message says why."""


@dataclass
class _Valuation:
    kind: Kind
    components: list[Component] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def monthly_usd(self) -> Decimal:
        return sum((c.monthly_usd for c in self.components), Decimal(0))


class _Pricer:
    """Values one side (before or after) of resources in one plan."""

    def __init__(self, plan: dict, region: str, source: PriceSource) -> None:
        self.plan = plan
        self.region = region
        self.source = source
        self.sources_used: set[str] = set()
        self.changes = [
            rc for rc in plan.get("resource_changes", []) if rc.get("mode", "managed") == "managed"
        ]

    # -- helpers
    def component(self, label: str, service: str, sku: str, quantity: Decimal | int) -> Component:
        price = self.source.price(PriceKey(service, self.region, sku))
        if price is None:
            raise _NoPrice(f"no {service} price for {sku} in {self.region}")
        self.sources_used.add(price.source)
        qty = Decimal(quantity)
        per_month = price.usd * HOURS_PER_MONTH if price.unit == "hour" else price.usd
        return Component(label, qty, price.unit, price.usd, qty * per_month, price.source)

    def volume(
        self, label: str, size: Any, vtype: Any, iops: Any, throughput: Any, count: int
    ) -> list[Component]:
        vtype = vtype or "gp2"
        if not isinstance(size, int | float) or size <= 0:
            raise _NoPrice(f"{label}: volume size is unknown until apply")
        qty = Decimal(str(size)) * count
        parts = [self.component(f"{label} {vtype} {size} GB x {count}", "ebs", vtype, qty)]
        if vtype == "gp3":
            extra_iops = max(int(iops or GP3_FREE_IOPS) - GP3_FREE_IOPS, 0)
            extra_tput = max(int(throughput or GP3_FREE_THROUGHPUT) - GP3_FREE_THROUGHPUT, 0)
            if extra_iops:
                parts.append(
                    self.component(f"{label} extra IOPS x {count}", "ebs_iops", "gp3", extra_iops * count)
                )
            if extra_tput:
                label_t = f"{label} extra MB/s x {count}"
                parts.append(self.component(label_t, "ebs_throughput", "gp3", extra_tput * count))
        return parts

    def side(self, rc: dict, side: str) -> dict | None:
        values = rc.get("change", {}).get(side)
        return values if isinstance(values, dict) else None

    # -- launch templates behind Auto Scaling groups
    def launch_template(self, asg: dict, values: dict, side: str) -> tuple[dict, dict]:
        templates = [rc for rc in self.changes if rc["type"] == "aws_launch_template" and self.side(rc, side)]
        specs = list(values.get("launch_template") or [])
        for policy in values.get("mixed_instances_policy") or []:
            for lt in policy.get("launch_template") or []:
                specs.extend(lt.get("launch_template_specification") or [])
        for spec in specs:
            for key, attr in (("id", "id"), ("launch_template_id", "id"), ("name", "name")):
                wanted = spec.get(key)
                for rc in templates:
                    if wanted and self.side(rc, side).get(attr) == wanted:
                        return rc, self.side(rc, side)
        same_module = [rc for rc in templates if rc.get("module_address") == asg.get("module_address")]
        referenced = _referenced_names(self.plan, asg, "aws_launch_template")
        for rc in same_module:
            if rc["name"] in referenced:
                return rc, self.side(rc, side)
        if len(same_module) == 1:
            return same_module[0], self.side(same_module[0], side)
        raise _NoPrice("its launch template is not in this plan")

    def template_volumes(self, lt: dict, count: int) -> list[Component]:
        """EBS volumes a launch template gives each instance, times `count` instances."""
        parts = []
        for mapping in lt.get("block_device_mappings") or []:
            for ebs in mapping.get("ebs") or []:
                label = mapping.get("device_name") or "volume"
                iops, tput = ebs.get("iops"), ebs.get("throughput")
                parts += self.volume(label, ebs.get("volume_size"), ebs.get("volume_type"), iops, tput, count)
        return parts

    # -- per type
    def value(self, rc: dict, values: dict, side: str) -> _Valuation:
        rtype = rc["type"]
        if not rtype.startswith("aws_"):
            return _Valuation(Kind.FREE, notes=["not billed by AWS"])
        if rtype in FREE_TYPES or rtype.startswith(FREE_PREFIXES) or rtype == "aws_launch_template":
            note = (
                "priced through the Auto Scaling groups that launch it"
                if rtype == "aws_launch_template"
                else ""
            )
            return _Valuation(Kind.FREE, notes=[note] if note else [])
        if rtype in USAGE_BASED_TYPES:
            return _Valuation(Kind.USAGE_BASED, notes=[USAGE_BASED_TYPES[rtype]])
        method = getattr(self, f"_{rtype}", None)
        if method is None:
            raise _NoPrice(f"{rtype} is not in the price catalog")
        return method(rc, values, side)

    def _aws_instance(self, rc: dict, v: dict, side: str) -> _Valuation:
        itype = _known(v, "instance_type")
        parts = [self.component(f"{itype} x 1", "ec2", itype, 1)]
        root_sized = False
        for kind in ("root_block_device", "ebs_block_device"):
            for dev in v.get(kind) or []:
                if isinstance(dev.get("volume_size"), int | float) and dev["volume_size"] > 0:
                    dtype, iops, tput = dev.get("volume_type"), dev.get("iops"), dev.get("throughput")
                    parts += self.volume(kind, dev["volume_size"], dtype, iops, tput, 1)
                    root_sized = root_sized or kind == "root_block_device"
        notes = [] if root_sized else ["root volume size comes from the AMI; not estimated"]
        return _Valuation(Kind.PRICED, parts, notes)

    def _aws_autoscaling_group(self, rc: dict, v: dict, side: str) -> _Valuation:
        count = v.get("desired_capacity")
        if count is None:
            count = v.get("min_size")
        if not isinstance(count, int):
            raise _NoPrice("desired_capacity is unknown until apply")
        lt_rc, lt = self.launch_template(rc, v, side)
        itype = lt.get("instance_type")
        if not itype:
            overrides = [
                o.get("instance_type")
                for p in v.get("mixed_instances_policy") or []
                for t in p.get("launch_template") or []
                for o in t.get("override") or []
            ]
            itype = next((o for o in overrides if o), None)
        if not itype:
            raise _NoPrice(f"{lt_rc['address']} sets no instance_type")
        parts = [self.component(f"{itype} x {count}", "ec2", itype, count), *self.template_volumes(lt, count)]
        notes = [f"instance type from {lt_rc['address']}"]
        if not lt.get("block_device_mappings"):
            notes.append("root volume size comes from the AMI; not estimated")
        return _Valuation(Kind.PRICED, parts, notes)

    def _aws_eks_cluster(self, rc: dict, v: dict, side: str) -> _Valuation:
        return _Valuation(Kind.PRICED, [self.component("EKS cluster", "eks", "cluster", 1)])

    def _aws_eks_node_group(self, rc: dict, v: dict, side: str) -> _Valuation:
        if (v.get("capacity_type") or "ON_DEMAND") != "ON_DEMAND":
            raise _NoPrice("spot capacity follows the spot market; not estimated")
        scaling = (v.get("scaling_config") or [{}])[0]
        count = scaling.get("desired_size")
        if not isinstance(count, int):
            raise _NoPrice("scaling_config.desired_size is unknown until apply")
        lt_rc, lt, notes = None, {}, []
        if v.get("launch_template"):
            try:
                lt_rc, lt = self.launch_template(rc, v, side)
            except _NoPrice:
                notes.append("node volumes come from a launch template outside this plan; not estimated")
        types = v.get("instance_types") or ([lt["instance_type"]] if lt.get("instance_type") else [])
        if not types:
            types = [EKS_DEFAULT_INSTANCE_TYPE]
            notes.append(f"EKS default instance type {EKS_DEFAULT_INSTANCE_TYPE}")
        if len(types) > 1:
            notes.append(f"priced as {types[0]}, the first of {', '.join(types)}")
        parts = [self.component(f"{types[0]} x {count}", "ec2", types[0], count)]
        if lt_rc is not None:
            parts += self.template_volumes(lt, count)
            notes.append(f"node volumes from {lt_rc['address']}")
        elif not v.get("launch_template"):
            disk = v.get("disk_size") or EKS_DEFAULT_DISK_GB
            parts += self.volume("node disk", disk, "gp2", None, None, count)
        return _Valuation(Kind.PRICED, parts, notes)

    def _aws_db_instance(self, rc: dict, v: dict, side: str) -> _Valuation:
        engine = _known(v, "engine")
        table = _RDS_ENGINE_TABLE.get(engine)
        if table is None:
            raise _NoPrice(f"engine {engine} is not in the price catalog")
        klass = _known(v, "instance_class")
        copies = 2 if v.get("multi_az") else 1
        az = "Multi-AZ" if copies == 2 else "Single-AZ"
        parts = [self.component(f"{klass} {engine} {az}", "rds", f"{table}/{klass}", copies)]
        storage_type = v.get("storage_type") or "gp2"
        size = v.get("allocated_storage")
        if not isinstance(size, int | float):
            raise _NoPrice("allocated_storage is unknown until apply")
        if storage_type not in ("gp2", "gp3"):
            raise _NoPrice(f"RDS {storage_type} storage is not in the price catalog")
        label = f"{storage_type} storage {size} GB {az}"
        parts.append(self.component(label, "rds_storage", storage_type, Decimal(str(size)) * copies))
        notes = ["backups beyond the instance's storage size and provisioned IOPS are not estimated"]
        return _Valuation(Kind.PRICED, parts, notes)

    def _aws_lb(self, rc: dict, v: dict, side: str) -> _Valuation:
        lb_type = v.get("load_balancer_type") or "application"
        short = {"application": "alb", "network": "nlb"}.get(lb_type)
        if short is None:
            raise _NoPrice(f"{lb_type} load balancers are not in the price catalog")
        lcu = ALB_LCU_PER_HOUR if short == "alb" else NLB_LCU_PER_HOUR
        parts = [
            self.component(f"{lb_type} load balancer", "elb", short, 1),
            self.component(f"{lcu} LCU (assumed average)", "elb", f"{short}_lcu", lcu),
        ]
        return _Valuation(Kind.PRICED, parts, ["LCU usage assumed; data processed is usage-based"])

    _aws_alb = _aws_lb

    def _aws_nat_gateway(self, rc: dict, v: dict, side: str) -> _Valuation:
        parts = [self.component("NAT gateway", "nat", "gateway", 1)]
        return _Valuation(Kind.PRICED, parts, ["data processing per GB is usage-based, not estimated"])

    def _aws_ebs_volume(self, rc: dict, v: dict, side: str) -> _Valuation:
        parts = self.volume("volume", v.get("size"), v.get("type"), v.get("iops"), v.get("throughput"), 1)
        return _Valuation(Kind.PRICED, parts)

    def _aws_kms_key(self, rc: dict, v: dict, side: str) -> _Valuation:
        return _Valuation(
            Kind.PRICED, [self.component("KMS key", "kms", "key", 1)], ["API requests not estimated"]
        )

    def _aws_kms_replica_key(self, rc: dict, v: dict, side: str) -> _Valuation:
        return self._aws_kms_key(rc, v, side)

    def _aws_eip(self, rc: dict, v: dict, side: str) -> _Valuation:
        return _Valuation(Kind.PRICED, [self.component("public IPv4 address", "eip", "address", 1)])

    def _aws_cloudwatch_metric_alarm(self, rc: dict, v: dict, side: str) -> _Valuation:
        return _Valuation(Kind.PRICED, [self.component("alarm", "cloudwatch", "alarm", 1)])


def _known(values: dict, key: str) -> str:
    value = values.get(key)
    if not isinstance(value, str) or not value:
        raise _NoPrice(f"{key} is unknown until apply")
    return value


def _referenced_names(plan: dict, rc: dict, target_type: str) -> set[str]:
    """Names of `target_type` resources referenced anywhere in rc's configuration (same module)."""
    module = plan.get("configuration", {}).get("root_module", {})
    address = rc.get("module_address", "")
    for i, part in enumerate(address.split(".") if address else []):
        if i % 2 == 1:
            module = module.get("module_calls", {}).get(part.split("[")[0], {}).get("module", {})
    names: set[str] = set()
    for res in module.get("resources", []):
        if res.get("type") == rc["type"] and res.get("name") == rc["name"]:
            _collect_refs(res.get("expressions", {}), target_type, names)
    return names


def _collect_refs(node: Any, target_type: str, names: set[str]) -> None:
    if isinstance(node, dict):
        for ref in node.get("references", []) if isinstance(node.get("references"), list) else []:
            parts = str(ref).split(".")
            if len(parts) >= 2 and parts[0] == target_type:
                names.add(parts[1].split("[")[0])
        for value in node.values():
            _collect_refs(value, target_type, names)
    elif isinstance(node, list):
        for value in node:
            _collect_refs(value, target_type, names)


def _action(actions: list[str]) -> str | None:
    if set(actions) <= _SKIPPED_ACTIONS:
        return None
    if "create" in actions and "delete" in actions:
        return "replace"
    return actions[0] if len(actions) == 1 else "+".join(actions)


def _lt_changed_under(pricer: _Pricer, asg: dict) -> bool:
    """A no-op ASG whose launch template changes still changes cost (new instances use it)."""
    try:
        lt_rc, _ = pricer.launch_template(asg, pricer.side(asg, "after") or {}, "after")
    except _NoPrice:
        return False
    return "update" in lt_rc["change"]["actions"]


def estimate(plan_json: dict, region: str, *, price_source: PriceSource | None = None) -> CostEstimate:
    """Cost delta of the plan's resource changes in `region` (USD)."""
    pricer = _Pricer(plan_json, region, price_source or default_price_source())
    lines = []
    for rc in pricer.changes:
        actions = rc.get("change", {}).get("actions", [])
        action = _action(actions)
        if action is None and rc["type"] == "aws_autoscaling_group" and _lt_changed_under(pricer, rc):
            action = "update"
        if action is None:
            continue
        lines.append(_line(pricer, rc, action))
    return CostEstimate(region=region, lines=lines, price_sources=sorted(pricer.sources_used))


def _line(pricer: _Pricer, rc: dict, action: str) -> CostLine:
    line = CostLine(address=rc["address"], type=rc["type"], action=action, kind=Kind.PRICED)
    sides = {"create": ("after",), "delete": ("before",)}.get(action, ("after", "before"))
    valuations: dict[str, _Valuation] = {}
    try:
        for side in sides:
            values = pricer.side(rc, side)
            if values is None:
                raise _NoPrice(f"the {side} state is missing from the plan")
            valuations[side] = pricer.value(rc, values, side)
    except _NoPrice as exc:
        line.kind, line.reason = Kind.UNPRICED, str(exc)
        return line
    kinds = {v.kind for v in valuations.values()}
    line.kind = Kind.PRICED if Kind.PRICED in kinds else kinds.pop()
    for side, valuation in valuations.items():
        sign = Decimal(1) if side == "after" else Decimal(-1)
        for c in valuation.components:
            label = c.label if side == "after" else f"was: {c.label}"
            line.components.append(
                Component(label, c.quantity, c.unit, c.unit_usd, sign * c.monthly_usd, c.source)
            )
        line.notes.extend(n for n in valuation.notes if n not in line.notes)
    line.monthly_usd = sum((c.monthly_usd for c in line.components), Decimal(0))
    return line
