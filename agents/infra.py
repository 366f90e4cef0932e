"""The infra agent: create, change or destroy infrastructure from a curated stack.

``InfraAgent().handle(intent, context)`` turns an intent into composition specs for the IaC renderer::

    {"stack": "web_tier", "action": "create", "parameters": {...}, "tags": {...}, "region": "ap-south-1",
     "account_id": "123456789012", "workspace": "acme-dev", "blueprint": {"slug": ..., "version": ...}}

Parameter names are the stack's Terraform variables (``iac/stacks/<stack>/variables.tf``); inputs the
platform resolves (``ami_id``, an existing VPC's ids) are left to the renderer. Before any spec is
produced the request is checked against the account and config: allowed regions and services, instance
size caps and capacity per environment, mandatory tags, and (with an estimator) the budgets. Every
refusal is explained in plain words; the gates re-check all of it on the real plan.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from agents.clarification import questions_for
from agents.commit import CostEstimate, account_limits, budget_daily_usd, resolve_estimate
from agents.domains import AgentAnswer, AgentContext
from agents.intent import Action, Domain, Intent, Resource, ResourceType
from blueprints.curated import curated_defaults
from blueprints.stacks import COMPANION_TYPES, STACK_OF_TYPE, STACKS, parameter_errors
from iac.pricing.money import fmt, settings_rates

__all__ = [
    "DEFAULT_INSTANCE_CAPS",
    "DEFAULT_MAX_CAPACITY",
    "InfraAgent",
    "check_constraints",
    "intent_parameters",
    "size_rank",
    "stacks_for",
]

# Same shape as the OPA data (data.config.instance_caps / max_desired_capacity): env -> caps, with an
# optional "default". Settings GANTRY_INSTANCE_CAPS / GANTRY_MAX_CAPACITY replace these.
DEFAULT_INSTANCE_CAPS: dict[str, dict[str, Any]] = {
    "dev": {"max_size": "xlarge"},
    "staging": {"max_size": "2xlarge"},
    "prod": {"max_size": "4xlarge"},
    "default": {"max_size": "xlarge"},
}
DEFAULT_MAX_CAPACITY: dict[str, int] = {"dev": 10, "staging": 20, "prod": 50, "default": 10}

_SIZE_RANK = {"nano": 1, "micro": 2, "small": 3, "medium": 4, "large": 5, "xlarge": 6}
_HANDLED = frozenset({Action.CREATE, Action.MODIFY, Action.DESTROY})
_NAME_LIMITS = {"web_tier": 24, "data_tier": 40, "static_bucket": 63, "eks_cluster": 24}
_ENGINES = {"postgres": "postgres", "postgresql": "postgres", "mysql": "mysql", "mariadb": None}


def size_rank(size: str) -> int | None:
    """nano=1 … xlarge=6, Nxlarge=6+N, metal=1000 (as ``iac/policies/lib.rego``)."""
    if size in _SIZE_RANK:
        return _SIZE_RANK[size]
    if size.startswith("metal"):
        return 1000
    match = re.fullmatch(r"(\d+)xlarge", size)
    return 6 + int(match.group(1)) if match else None


def _env_setting(table: dict[str, Any], env: str | None) -> Any:
    if env and env in table:
        return table[env]
    return table.get("default")


def instance_caps(env: str | None) -> dict[str, Any]:
    return _env_setting(getattr(settings, "GANTRY_INSTANCE_CAPS", None) or DEFAULT_INSTANCE_CAPS, env) or {}


def max_capacity(env: str | None) -> int | None:
    return _env_setting(getattr(settings, "GANTRY_MAX_CAPACITY", None) or DEFAULT_MAX_CAPACITY, env)


# --- intent -> stacks and parameters ---------------------------------------------------------------


def stacks_for(intent: Intent) -> tuple[list[tuple[str, Resource | None]], list[str]]:
    """(stack, the resource that chose it) for each stack the intent needs, and the resource types no
    curated stack builds. An ALB or ASG alongside EC2 instances joins their web tier."""
    chosen: list[tuple[str, Resource | None]] = []
    unsupported: list[str] = []
    web: Resource | None = None
    for resource in intent.resources:
        kind = resource.type.value
        stack = STACK_OF_TYPE.get(kind)
        if stack is None:
            if kind not in COMPANION_TYPES:
                unsupported.append(kind)
            continue
        if stack == "web_tier":
            if web is None or (
                resource.type == ResourceType.EC2_INSTANCE and web.type != ResourceType.EC2_INSTANCE
            ):
                web = resource
            continue
        copies = max(1, len(resource.names), resource.count or 1) if intent.action == Action.CREATE else 1
        for _ in range(min(copies, 10)):
            chosen.append((stack, resource))
    if web is not None:
        chosen.insert(0, ("web_tier", web))
    return chosen, unsupported


def _slug(text: str, limit: int, *, bucket: bool = False) -> str:
    allowed = r"[^a-z0-9.-]+" if bucket else r"[^a-z0-9-]+"
    value = re.sub(allowed, "-", text.lower())
    value = re.sub(r"-{2,}", "-", value).strip("-.")
    value = value[:limit].rstrip("-.")
    if not value or (not value[0].isalpha() and not bucket):
        value = ("g-" + value)[:limit].rstrip("-")
    return value


def _default_name(stack: str, context: AgentContext, index: int) -> str:
    tenant = getattr(context.tenant, "slug", None) or "gantry"
    env = context.env or "dev"
    suffix = {"web_tier": "web", "data_tier": "db", "static_bucket": "assets", "eks_cluster": "eks"}[stack]
    if stack == "static_bucket":
        workspace = getattr(context.config, "workspace", None) or env
        base = f"{tenant}-{workspace}-{suffix}"
    else:
        base = f"{tenant}-{env}-{suffix}"
    if index:
        base = f"{base}-{index + 1}"
    return base


def intent_parameters(intent: Intent, stack: str, resource: Resource | None) -> dict[str, Any]:
    """The stack parameters the request states (nothing else: defaults come from the blueprint)."""
    params: dict[str, Any] = {}
    constraints = set(intent.constraints)
    if resource is None:
        return params
    if stack == "web_tier":
        compute = intent.resources_of(ResourceType.EC2_INSTANCE) or intent.resources_of(ResourceType.ASG)
        source = compute[0] if compute else resource
        if source.count is not None and source.type in (ResourceType.EC2_INSTANCE, ResourceType.ASG):
            params["instance_count"] = source.count
        if source.instance_type:
            params["instance_type"] = source.instance_type
        if source.min_count is not None:
            params["min_size"] = source.min_count
        if source.max_count is not None:
            params["max_size"] = source.max_count
            params.setdefault("instance_count", max(source.min_count or 1, min(source.max_count, 2)))
        if "public" in constraints:
            params["internet_facing"] = True
        elif "private" in constraints:
            params["internet_facing"] = False
    elif stack == "data_tier":
        if resource.engine:
            params["engine"] = resource.engine
        if resource.engine_version:
            params["engine_version"] = resource.engine_version
        if resource.instance_class:
            params["instance_class"] = resource.instance_class
        if resource.storage_gb is not None:
            params["allocated_storage"] = resource.storage_gb
        if resource.multi_az is not None:
            params["multi_az"] = resource.multi_az
        elif "multi_az" in constraints:
            params["multi_az"] = True
    elif stack == "eks_cluster":
        if resource.node_count is not None:
            params["node_desired_size"] = resource.node_count
        if resource.node_instance_type:
            params["node_instance_types"] = [resource.node_instance_type]
        if resource.min_count is not None:
            params["node_min_size"] = resource.min_count
        if resource.max_count is not None:
            params["node_max_size"] = resource.max_count
        if resource.engine_version:
            params["kubernetes_version"] = resource.engine_version
        if "public" in constraints:
            params["endpoint_public_access"] = True
    elif stack == "static_bucket" and "versioned" in constraints:
        params["versioning_enabled"] = True
    return params


def _normalise(stack: str, params: dict[str, Any], refusals: list[str]) -> None:
    if stack == "data_tier" and "engine" in params:
        engine = _ENGINES.get(str(params["engine"]).lower())
        if engine is None:
            refusals.append(
                f"The curated database blueprint runs PostgreSQL or MySQL, not {params['engine']}."
            )
            params.pop("engine")
        else:
            params["engine"] = engine
            if "engine_version" not in params:
                params["engine_version"] = "16" if engine == "postgres" else "8.0"
    if stack == "web_tier":
        count = params.get("instance_count")
        if isinstance(count, int):
            if params.get("min_size") is not None and params["min_size"] > count:
                params["instance_count"] = params["min_size"]
            if params.get("max_size") is not None and params["max_size"] < params["instance_count"]:
                params["instance_count"] = params["max_size"]
    if stack == "eks_cluster":
        desired = params.get("node_desired_size")
        if isinstance(desired, int):
            if params.get("node_max_size", 0) < desired:
                params["node_max_size"] = desired
            if params.get("node_min_size", 0) > desired:
                params["node_min_size"] = desired


# --- inputs from the platform ----------------------------------------------------------------------

# moto's bundled Amazon Linux 2 image: the embedded sandbox knows it in every region.
SANDBOX_AMI = "ami-04681a1dbd79675a5"


def _ami_for(region: str | None, account) -> str | None:
    configured = getattr(settings, "GANTRY_AMI_IDS", None) or {}
    if region and region in configured:
        return configured[region]
    if "default" in configured:
        return configured["default"]
    if getattr(account, "mode", "sandbox") == "sandbox":
        return SANDBOX_AMI
    return None


def platform_inputs(
    stack: str, parameters: dict[str, Any], context: AgentContext, region: str | None
) -> list[str]:
    """Fill what the stack needs from the account and config (AMI, existing VPC, KMS key), in place;
    return refusals for what cannot be filled."""
    refusals: list[str] = []
    config, account = context.config, context.account
    prefs = (getattr(config, "vpc_preferences", None) or {}) if config is not None else {}
    if stack in ("web_tier", "eks_cluster"):
        if prefs.get("cidr"):
            parameters["vpc_cidr"] = prefs["cidr"]
        if isinstance(prefs.get("az_count"), int) and 2 <= prefs["az_count"] <= 6:
            parameters["az_count"] = prefs["az_count"]
    if stack == "web_tier":
        ami = _ami_for(region, account)
        if ami is None:
            refusals.append(
                f"No machine image is configured for {region}; a platform admin sets GANTRY_AMI_IDS."
            )
        else:
            parameters["ami_id"] = ami
    if stack == "data_tier":
        vpc_id, subnet_ids = prefs.get("vpc_id"), prefs.get("subnet_ids")
        if vpc_id and isinstance(subnet_ids, list) and len(subnet_ids) >= 2:
            parameters["vpc_id"], parameters["subnet_ids"] = vpc_id, list(subnet_ids)
        elif config is not None:
            refusals.append(
                "The database blueprint goes into an existing VPC: set vpc_id and at least two "
                "subnet_ids in the config's VPC preferences first."
            )
    kms = getattr(config, "kms_key_arn", "") if config is not None else ""
    if kms and getattr(account, "kms_preference", "") != "aws_managed":
        parameters["kms_key_arn"] = kms
    return refusals


# --- constraints -----------------------------------------------------------------------------------


def _instance_types(stack: str, params: dict[str, Any]) -> list[tuple[str, bool]]:
    if stack in ("web_tier", "ec2", "asg_ec2") and params.get("instance_type"):
        return [(params["instance_type"], False)]
    if stack in ("data_tier", "rds") and params.get("instance_class"):
        return [(params["instance_class"], True)]
    if stack in ("eks_cluster", "eks"):
        return [(t, False) for t in params.get("node_instance_types") or [] if isinstance(t, str)]
    return []


def _capacity(stack: str, params: dict[str, Any]) -> list[tuple[str, int]]:
    keys = {
        "web_tier": ("instance_count", "min_size", "max_size"),
        "eks_cluster": ("node_desired_size", "node_min_size"),
        # curated modules, as a free-form composition uses them
        "ec2": ("instance_count",),
        "asg_ec2": ("desired_capacity", "min_size", "max_size"),
        "eks": ("node_desired_size", "node_min_size", "node_max_size"),
    }.get(stack, ())
    return [(key, params[key]) for key in keys if isinstance(params.get(key), int)]


def _sized_parts(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(stack or module, its parameters) for a curated-stack spec or each module of a composition."""
    if spec.get("composition"):
        return [(call["module"], call.get("inputs") or {}) for call in spec["composition"]["modules"]]
    return [(spec["stack"], spec.get("parameters", {}))]


def _services_problems(account, specs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    allowed = set(account.allowed_services)
    refusals: list[str] = []
    notes: list[str] = []
    for stack_name in dict.fromkeys(spec["stack"] for spec in specs if spec.get("stack")):
        stack = STACKS[stack_name]
        missing = [s for s in stack.primary_services if s not in allowed]
        if missing:
            refusals.append(
                f"Account {account.name} does not allow {', '.join(missing)}, which the "
                f"{stack_name} blueprint needs (allowed: {', '.join(sorted(allowed))})."
            )
        extra = [s for s in stack.supporting_services if s not in allowed]
        if extra:
            notes.append(
                f"{stack_name} also creates {', '.join(extra)} resources, which account {account.name} "
                "does not list; the policy gate may block them."
            )
    for spec in specs:
        if spec.get("composition"):
            from agents.composition import MODULE_SERVICES

            for call in spec["composition"]["modules"]:
                missing = [s for s in MODULE_SERVICES.get(call["module"], ()) if s not in allowed]
                if missing:
                    refusals.append(
                        f"Account {account.name} does not allow {', '.join(missing)}, which the "
                        f"{call['module']} module needs (allowed: {', '.join(sorted(allowed))})."
                    )
    return refusals, notes


def _sizing_problems(
    part: str,
    params: dict[str, Any],
    caps: dict[str, Any],
    cap_size: str | None,
    cap_rank: int | None,
    limit: int | None,
    env_label: str,
) -> list[str]:
    """Instance sizes and capacities of one stack (or composed module) against the environment's caps."""
    refusals: list[str] = []
    for itype, is_db in _instance_types(part, params):
        parts = itype.removeprefix("db.").split(".")
        if len(parts) != 2:
            refusals.append(f"{itype} is not a recognised instance type.")
            continue
        family, size = parts
        families = caps.get("db_families" if is_db else "families") or caps.get("families")
        if families and family not in families:
            refusals.append(
                f"{itype} is not an allowed instance family in {env_label} "
                f"(allowed: {', '.join(sorted(families))})."
            )
        rank = size_rank(size)
        if cap_rank is not None and (rank is None or rank > cap_rank):
            refusals.append(
                f"{itype} is larger than {env_label} allows (up to {cap_size}); pick a smaller size "
                "or use a config for a bigger environment."
            )
    for key, value in _capacity(part, params):
        if limit is not None and value > limit:
            refusals.append(
                f"{key.replace('_', ' ')} {value} is more than {env_label} allows ({limit} at most)."
            )
    return refusals


def check_constraints(
    intent: Intent,
    context: AgentContext,
    specs: list[dict[str, Any]],
    *,
    estimate: CostEstimate | None = None,
) -> tuple[list[str], list[str]]:
    """(refusals, notes) for these specs in this context, in plain words."""
    refusals: list[str] = []
    notes: list[str] = []
    account, config = context.account, context.config
    env = context.env or (intent.environment.value if intent.environment else None)

    if config is not None and intent.environment is not None and intent.environment.value != config.env:
        refusals.append(
            f"The request is for {intent.environment.value}, but the active config '{config.name}' is "
            f"{config.env}. Switch to a {intent.environment.value} config and ask again."
        )
    for spec in specs:
        region = spec.get("region")
        if account is not None and region and region not in account.regions:
            refusals.append(
                f"Region {region} is not allowed for account {account.name}; allowed: "
                f"{', '.join(account.regions)}."
            )
            break
    if account is not None and account.allowed_services:
        more_refusals, more_notes = _services_problems(account, specs)
        refusals += more_refusals
        notes += more_notes

    caps = instance_caps(env)
    cap_size = caps.get("max_size")
    cap_rank = size_rank(cap_size) if cap_size else None
    limit = max_capacity(env)
    env_label = env or "this environment"
    for spec in specs:
        if spec.get("action") == "destroy":
            continue
        for part, params in _sized_parts(spec):
            refusals += _sizing_problems(part, params, caps, cap_size, cap_rank, limit, env_label)

    if account is not None and account.mandatory_tags:
        for spec in specs:
            missing = [key for key in account.mandatory_tags if not spec.get("tags", {}).get(key)]
            if missing:
                refusals.append(
                    f"Account {account.name} requires the tags {', '.join(missing)}; add them to the request "
                    f"(for example {missing[0]}=value) or to the config's default tags."
                )
                break

    rates = settings_rates()
    if estimate is not None:
        for label, amount, currency, period in account_limits(account):
            limit_usd = budget_daily_usd(amount, currency, period, rates)
            if estimate.daily_usd > limit_usd:
                refusals.append(
                    f"The estimated cost (about {fmt(estimate.per(period, currency, rates), currency)}/{period}) "
                    f"is over account {account.name}'s {label} budget of {fmt(amount, currency)}."
                )
        if intent.budget is not None:
            budget = intent.budget
            asked = budget_daily_usd(budget.amount, budget.currency.value, budget.period.value, rates)
            if estimate.daily_usd > asked:
                cur = budget.currency.value
                refusals.append(
                    f"The estimated cost (about {fmt(estimate.per(budget.period.value, cur, rates), cur)}/"
                    f"{budget.period.value}) is over the budget you gave "
                    f"({fmt(budget.amount, cur)}/{budget.period.value})."
                )
    elif intent.budget is not None:
        notes.append("No cost estimate yet; the cost gate checks the plan against the budget.")
    return list(dict.fromkeys(refusals)), list(dict.fromkeys(notes))


# --- the agent -------------------------------------------------------------------------------------


def _blueprint_info(version, *, score: float) -> dict[str, Any]:
    """What a spec records about the blueprint version it starts from."""
    blueprint = version.blueprint
    return {
        "slug": blueprint.slug,
        "name": blueprint.name,
        "id": blueprint.pk,
        "version": version.number,
        "version_id": version.pk,
        "sha256": version.source_sha256,
        "score": round(score, 3),
        "platform": blueprint.tenant_id is None,
    }


class InfraAgent:
    name = "infra"
    domains = frozenset({Domain.INFRA})
    actions = _HANDLED

    def handle(self, intent: Intent, context: AgentContext) -> AgentAnswer:
        if intent.action not in self.actions:
            return AgentAnswer(
                agent=self.name,
                status="not_available",
                intent=intent,
                message=(
                    f"The infra agent creates, changes and destroys infrastructure; "
                    f"'{intent.action.value}' requests about infrastructure are not available yet."
                ),
            )
        if context.blueprint_version is not None:
            # The requester chose the blueprint: it answers what to build; the request only tunes it.
            stack_name = context.blueprint_version.blueprint.stack
            chosen = [r for r in intent.resources if STACK_OF_TYPE.get(r.type.value) == stack_name]
            stacks, unsupported = [(stack_name, chosen[0] if chosen else None)], []
        else:
            questions = questions_for(intent, config=context.config)
            if questions:
                return AgentAnswer(
                    agent=self.name,
                    status="needs_clarification",
                    intent=intent,
                    message="I need a few answers before I can prepare this.",
                    questions=questions,
                )
            stacks, unsupported = stacks_for(intent)
        refusals: list[str] = []
        notes: list[str] = []
        if unsupported:
            names = ", ".join(sorted({kind.replace("_", " ") for kind in unsupported}))
            available = ", ".join(STACKS)
            refusals.append(f"No curated blueprint builds {names} yet (available: {available}).")
        if not stacks:
            if intent.action == Action.CREATE:
                # No curated stack fits: a free-form composition of curated modules, when allowed.
                from agents.composition import compose_answer

                return compose_answer(
                    intent, context, agent=self.name, tags=self._tags(intent, context, None), why=refusals
                )
            if not refusals:
                refusals.append("I could not find anything to build in this request.")
            return self._refuse(intent, refusals, notes)

        specs: list[dict[str, Any]] = []
        chosen_blueprint: dict[str, Any] | None = None
        counters: dict[str, int] = {}
        seen_names: set[str] = set()
        for stack_name, resource in stacks:
            index = counters.get(stack_name, 0)
            counters[stack_name] = index + 1
            stated = intent_parameters(intent, stack_name, resource)
            base, blueprint_info = self._defaults(intent, context, stack_name)
            if blueprint_info and chosen_blueprint is None:
                chosen_blueprint = blueprint_info
            if (
                "engine" in stated
                and "engine_version" not in stated
                and base.get("engine") != stated["engine"]
            ):
                base.pop("engine_version", None)  # the blueprint's version is for its own engine
            parameters = {**base, **stated} if intent.action == Action.CREATE else dict(stated)
            _normalise(stack_name, parameters, refusals)
            stack = STACKS[stack_name]
            name = self._name(stack_name, resource, context, index, seen_names)
            if name:
                parameters[stack.name_parameter] = name
            errors = parameter_errors(stack_name, parameters)
            refusals.extend(f"{stack_name}: {error}." for error in errors)
            spec = {
                "stack": stack_name,
                "action": intent.action.value,
                "parameters": parameters,
                "tags": self._tags(intent, context, stack_name),
                "region": intent.region or context.default_region,
                "account_id": getattr(context.account, "account_id", None),
                "workspace": getattr(context.config, "workspace", None),
            }
            if blueprint_info:
                spec["blueprint"] = {k: blueprint_info[k] for k in ("slug", "version", "sha256")}
            specs.append(spec)
            if intent.action == Action.CREATE:
                refusals.extend(platform_inputs(stack_name, parameters, context, spec["region"]))
        bare_instances = "alb" not in intent.resource_types and "behind_alb" not in intent.constraints
        if intent.action == Action.CREATE and bare_instances and any(s["stack"] == "web_tier" for s in specs):
            notes.append(
                "Instances are built with the web tier blueprint, which adds a VPC, a NAT gateway and an "
                "internal load balancer in front of them."
            )
        if len(specs) > 1:
            notes.append(f"This request spans {len(specs)} stacks; each is planned and approved on its own.")
        if (
            intent.action != Action.CREATE
            and not any(r.names for r in intent.resources)
            and not intent.filters
        ):
            notes.append(
                f"Acts on the stack in workspace {getattr(context.config, 'workspace', None) or '(none)'}."
            )

        estimate = resolve_estimate(context.estimator, intent, specs) if context.estimator else None
        more_refusals, more_notes = check_constraints(intent, context, specs, estimate=estimate)
        refusals.extend(more_refusals)
        notes.extend(more_notes)
        if context.config is None:
            notes.append("No config selected: account and config checks were skipped.")
        refusals = list(dict.fromkeys(refusals))
        if refusals:
            answer = self._refuse(intent, refusals, list(dict.fromkeys(notes)))
            answer.estimate = estimate
            answer.blueprint = chosen_blueprint
            return answer
        stacks_text = ", ".join(dict.fromkeys(spec["stack"] for spec in specs))
        return AgentAnswer(
            agent=self.name,
            status="ready",
            intent=intent,
            message=f"Ready to generate {stacks_text}.",
            specs=specs,
            notes=list(dict.fromkeys(notes)),
            blueprint=chosen_blueprint,
            estimate=estimate,
        )

    # -- helpers --

    def _refuse(self, intent: Intent, refusals: list[str], notes: list[str]) -> AgentAnswer:
        return AgentAnswer(
            agent=self.name,
            status="refused",
            intent=intent,
            message="I can't prepare this: " + " ".join(refusals),
            refusals=refusals,
            notes=notes,
        )

    def _defaults(
        self, intent: Intent, context: AgentContext, stack: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Parameters to start from: the blueprint version the requester chose, else the best approved
        blueprint of this stack the user can see, else the curated defaults."""
        chosen = context.blueprint_version
        if chosen is not None and chosen.blueprint.stack == stack:
            return dict(chosen.spec.get("parameters", {})), _blueprint_info(chosen, score=1.0)
        if context.use_blueprints and context.user is not None and intent.action == Action.CREATE:
            from blueprints.selectors import similar_blueprints

            matches = similar_blueprints(intent, user=context.user, tenant=context.tenant, limit=5)
            same = [m for m in matches if m.blueprint.stack == stack]
            if same:
                best = same[0]
                info = _blueprint_info(best.version, score=best.score)
                info["alternatives"] = [
                    {"slug": m.blueprint.slug, "score": round(m.score, 3)} for m in matches if m is not best
                ]
                return dict(best.version.spec.get("parameters", {})), info
        return curated_defaults(stack), None

    def _name(
        self, stack: str, resource: Resource | None, context: AgentContext, index: int, seen: set[str]
    ) -> str | None:
        limit = _NAME_LIMITS[stack]
        given = [n for n in (resource.names if resource is not None else []) if n not in seen]
        raw = given[0] if given else _default_name(stack, context, index)
        name = _slug(raw, limit, bucket=stack == "static_bucket")
        if stack == "static_bucket" and len(name) < 3:
            name = _slug(_default_name(stack, context, index), limit, bucket=True)
        seen.add(raw)
        return name

    def _tags(self, intent: Intent, context: AgentContext, stack: str | None) -> dict[str, str]:
        base = dict(context.config.tags) if context.config is not None else {}
        requested = {k: v for k, v in intent.tags.items() if not k.lower().startswith(("gantry:", "aws:"))}
        return {**base, **requested, **({"gantry:stack": stack} if stack else {})}
