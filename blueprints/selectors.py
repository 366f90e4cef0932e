"""Reads of blueprints, and reuse suggestions.

``similar_blueprints(intent, user=..., tenant=...)`` ranks the approved blueprints the user can see
(the tenant's own and the platform's) against a parsed request by three similarities, each in 0..1:

* resources (weight 0.5): Jaccard over resource types, the intent's against the blueprint's;
* parameters (0.3): for each parameter the request states, how close the blueprint's default is
  (instance family and size, counts, engine, flags);
* text (0.2): TF-IDF cosine between the request text and the blueprint's name and description
  (pure Python, the candidates plus the request as the corpus).

``reuse_spec(version, overrides)`` builds a composition spec from a blueprint version. It is only a
starting point: the caller runs it through every gate again (safety, validate, checkov, OPA, cost)
exactly as a freshly generated spec; nothing about a blueprint's approval skips a gate.
"""

from __future__ import annotations

import copy
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from blueprints.models import Blueprint, BlueprintStatus, BlueprintVersion
from blueprints.stacks import STACK_OF_TYPE, STACKS, parameter_errors

WEIGHTS = {"resources": 0.5, "parameters": 0.3, "text": 0.2}
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:\.[a-z0-9]+)?")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "of",
        "in",
        "on",
        "for",
        "to",
        "with",
        "by",
        "at",
        "from",
        "or",
        "is",
        "are",
        "be",
        "my",
        "our",
        "your",
        "me",
        "i",
        "we",
        "please",
        "create",
        "make",
        "set",
        "up",
        "new",
        "some",
        "need",
        "want",
    ]
)
_SIZE_RANK = {"nano": 1, "micro": 2, "small": 3, "medium": 4, "large": 5, "xlarge": 6}
# Synonyms folded into one token so "server" meets "ec2" and "database" meets "rds".
_SYNONYMS = {
    "servers": "ec2",
    "server": "ec2",
    "instances": "ec2",
    "instance": "ec2",
    "vms": "ec2",
    "vm": "ec2",
    "machines": "ec2",
    "db": "database",
    "databases": "database",
    "rds": "database",
    "postgresql": "postgres",
    "buckets": "bucket",
    "s3": "bucket",
    "kubernetes": "eks",
    "k8s": "eks",
    "alb": "balancer",
    "elb": "balancer",
    "balancers": "balancer",
    "clusters": "cluster",
    "websites": "web",
    "website": "web",
}


def blueprints_for(user, *, tenant=None, action: str = "view") -> QuerySet:
    """Blueprints the user may see: platform rows plus their tenants' (optionally one tenant's)."""
    qs = Blueprint.objects.for_user(user, action)
    if tenant is not None:
        qs = qs.filter(Q(tenant=tenant) | Q(tenant__isnull=True))
    return qs


def versions_for(user, *, action: str = "view") -> QuerySet:
    return BlueprintVersion.objects.for_user(user, action).select_related("blueprint")


@dataclass
class BlueprintMatch:
    blueprint: Blueprint
    version: BlueprintVersion
    score: float
    resource_score: float
    parameter_score: float
    text_score: float
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)  # param -> {requested, blueprint}

    def to_dict(self) -> dict[str, Any]:
        return {
            "blueprint": self.blueprint.slug,
            "name": self.blueprint.name,
            "stack": self.blueprint.stack,
            "platform": self.blueprint.tenant_id is None,
            "version": self.version.number,
            "score": round(self.score, 4),
            "resource_score": round(self.resource_score, 4),
            "parameter_score": round(self.parameter_score, 4),
            "text_score": round(self.text_score, 4),
            "differences": self.differences,
        }


# --- similarity pieces -----------------------------------------------------------------------------


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def tokens(text: str) -> list[str]:
    out = []
    for token in _TOKEN_RE.findall((text or "").lower()):
        token = _SYNONYMS.get(token, token)
        if token not in _STOP and len(token) > 1:
            out.append(token)
    return out


def tfidf_cosine(query: str, documents: list[str]) -> list[float]:
    """Cosine similarity of ``query`` to each document, TF-IDF weighted over documents + query."""
    docs = [Counter(tokens(doc)) for doc in documents]
    q = Counter(tokens(query))
    corpus = [*docs, q]
    n = len(corpus)
    df: Counter[str] = Counter()
    for doc in corpus:
        df.update(doc.keys())
    idf = {term: math.log((1 + n) / (1 + count)) + 1 for term, count in df.items()}

    def vector(counts: Counter[str]) -> dict[str, float]:
        total = sum(counts.values()) or 1
        return {term: (count / total) * idf[term] for term, count in counts.items()}

    qv = vector(q)
    qnorm = math.sqrt(sum(v * v for v in qv.values()))
    scores = []
    for doc in docs:
        dv = vector(doc)
        dnorm = math.sqrt(sum(v * v for v in dv.values()))
        if not qnorm or not dnorm:
            scores.append(0.0)
            continue
        dot = sum(weight * dv.get(term, 0.0) for term, weight in qv.items())
        scores.append(dot / (qnorm * dnorm))
    return scores


def _size_rank(size: str) -> int:
    if size in _SIZE_RANK:
        return _SIZE_RANK[size]
    match = re.fullmatch(r"(\d+)xlarge", size)
    return 6 + int(match.group(1)) if match else 0


def instance_similarity(a: str, b: str) -> float:
    """Same family counts half, same size the other half (neighbouring sizes a little less)."""
    fa, _, sa = a.removeprefix("db.").partition(".")
    fb, _, sb = b.removeprefix("db.").partition(".")
    family = 0.5 if fa == fb else (0.25 if fa[:1] == fb[:1] else 0.0)
    distance = abs(_size_rank(sa) - _size_rank(sb))
    size = max(0.0, 0.5 - 0.15 * distance)
    return family + size


def value_similarity(key: str, wanted: Any, have: Any) -> float:
    if have is None:
        return 0.5
    if isinstance(wanted, bool) or isinstance(have, bool):
        return 1.0 if wanted == have else 0.0
    if isinstance(wanted, int | float) and isinstance(have, int | float):
        top = max(abs(wanted), abs(have)) or 1
        return 1.0 - min(1.0, abs(wanted - have) / top)
    if key in ("instance_type", "instance_class"):
        return instance_similarity(str(wanted), str(have))
    if key == "node_instance_types" and isinstance(wanted, list) and isinstance(have, list):
        if not wanted or not have:
            return 0.5
        return instance_similarity(str(wanted[0]), str(have[0]))
    return 1.0 if wanted == have else 0.0


def _requested(intent, stack: str) -> dict[str, Any]:
    from agents.infra import intent_parameters, stacks_for

    for name, resource in stacks_for(intent)[0]:
        if name == stack:
            params = intent_parameters(intent, stack, resource)
            params.pop(STACKS[stack].name_parameter, None)
            return params
    return {}


def _intent_types(intent) -> set[str]:
    types = set(intent.resource_types)
    if "behind_alb" in intent.constraints:
        types.add("alb")
    if "ec2_instance" in types and "alb" in types:
        types.add("asg")
    return types


# --- the suggestions -------------------------------------------------------------------------------


def similar_blueprints(intent, *, user, tenant=None, limit: int = 3) -> list[BlueprintMatch]:
    """The best approved blueprints for ``intent`` among those ``user`` can see in ``tenant`` (and the
    platform's), best first, each with the parameter differences between request and blueprint."""
    candidates = list(
        blueprints_for(user, tenant=tenant).filter(status=BlueprintStatus.APPROVED).order_by("pk")
    )
    if not candidates:
        return []
    versions: dict[int, BlueprintVersion] = {}
    for version in (
        BlueprintVersion.objects.filter(blueprint__in=candidates, approved_at__isnull=False)
        .select_related("blueprint")
        .order_by("blueprint_id", "-number")
    ):
        versions.setdefault(version.blueprint_id, version)
    candidates = [bp for bp in candidates if bp.pk in versions]
    if not candidates:
        return []
    wanted_types = _intent_types(intent)
    wanted_stacks = {STACK_OF_TYPE[t] for t in wanted_types if t in STACK_OF_TYPE}
    texts = [f"{bp.name} {bp.name} {bp.description} {bp.stack.replace('_', ' ')}" for bp in candidates]
    text_scores = tfidf_cosine(intent.raw_text or " ".join(sorted(wanted_types)), texts)
    matches: list[BlueprintMatch] = []
    for bp, text_score in zip(candidates, text_scores, strict=True):
        version = versions[bp.pk]
        bp_types = set(bp.resource_types or STACKS[bp.stack].resource_types)
        resource_score = jaccard(wanted_types, bp_types)
        if bp.stack in wanted_stacks:
            # The stack the request maps to: companions (VPC, subnets) do not count against it.
            primary = {t for t in bp_types if STACK_OF_TYPE.get(t) == bp.stack}
            resource_score = max(resource_score, jaccard(wanted_types & set(STACK_OF_TYPE), primary))
        defaults = dict(version.spec.get("parameters", {}))
        requested = _requested(intent, bp.stack) if bp.stack in wanted_stacks else {}
        differences: dict[str, dict[str, Any]] = {}
        if requested:
            sims = []
            for key, wanted in requested.items():
                have = defaults.get(key)
                sims.append(value_similarity(key, wanted, have))
                if have != wanted:
                    differences[key] = {"requested": wanted, "blueprint": have}
            parameter_score = sum(sims) / len(sims)
        else:
            parameter_score = 0.5 if bp.stack in wanted_stacks else 0.0
        score = (
            WEIGHTS["resources"] * resource_score
            + WEIGHTS["parameters"] * parameter_score
            + WEIGHTS["text"] * text_score
        )
        matches.append(
            BlueprintMatch(bp, version, score, resource_score, parameter_score, text_score, differences)
        )
    # Ties: the tenant's own before the platform's, then the more used, then the newer.
    matches.sort(
        key=lambda m: (
            -round(m.score, 6),
            m.blueprint.tenant_id is None,
            -m.blueprint.usage_count,
            -m.blueprint.pk,
        )
    )
    return [m for m in matches if m.score > 0][:limit]


def reuse_spec(
    blueprint_version: BlueprintVersion, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A composition spec from ``blueprint_version`` with ``overrides``: ``parameters`` (merged over the
    version's), ``tags`` (merged), and placement keys ``region``, ``account_id``, ``workspace``,
    ``action``. Raises ``ValueError`` for parameters the stack does not have or bad values.

    The result is a proposal, not an approval: the caller must run it through every gate again."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - {"parameters", "tags", "region", "account_id", "workspace", "action"}
    if unknown:
        raise ValueError(f"unknown override keys: {', '.join(sorted(unknown))}")
    base = copy.deepcopy(blueprint_version.spec)
    stack = base["stack"]
    parameters = {**base.get("parameters", {}), **(overrides.get("parameters") or {})}
    errors = parameter_errors(stack, parameters)
    if errors:
        raise ValueError("; ".join(errors))
    blueprint = blueprint_version.blueprint
    return {
        "stack": stack,
        "action": overrides.get("action", "create"),
        "parameters": parameters,
        "tags": {**base.get("tags", {}), **(overrides.get("tags") or {})},
        "region": overrides.get("region"),
        "account_id": overrides.get("account_id"),
        "workspace": overrides.get("workspace"),
        "blueprint": {
            "slug": blueprint.slug,
            "version": blueprint_version.number,
            "sha256": blueprint_version.source_sha256,
        },
    }


# --- the library pages -----------------------------------------------------------------------------


def blueprint_library(
    user,
    *,
    tenant,
    query: str = "",
    stack: str = "",
    status: str = "",
    scope: str = "",  # "platform" | "tenant" | "" (both)
) -> QuerySet[Blueprint]:
    """The blueprints the library shows for ``tenant``: the platform's and the tenant's own, filtered.
    ``query`` matches name, slug, description and the stack's name or title ("alb" finds web tiers);
    every word must match somewhere."""
    qs = blueprints_for(user, tenant=tenant).select_related("tenant", "created_by")
    for word in (query or "").lower().split()[:8]:
        stacks = [s.name for s in STACKS.values() if word in s.name or word in s.title.lower()]
        qs = qs.filter(
            Q(name__icontains=word)
            | Q(slug__icontains=word)
            | Q(description__icontains=word)
            | Q(stack__in=stacks)
        )
    if stack:
        qs = qs.filter(stack=stack)
    if status:
        qs = qs.filter(status=status)
    if scope == "platform":
        qs = qs.filter(tenant__isnull=True)
    elif scope == "tenant":
        qs = qs.filter(tenant=tenant)
    return qs.order_by("name", "pk")


def blueprint_for_user(user, blueprint_id: int, *, tenant, action: str = "view") -> Blueprint:
    """Blueprint.DoesNotExist (404) unless it is the platform's or ``tenant``'s and the user's role there
    allows ``action``."""
    return (
        blueprints_for(user, tenant=tenant, action=action)
        .select_related("tenant", "created_by")
        .get(pk=blueprint_id)
    )


def blueprint_versions(blueprint: Blueprint) -> QuerySet[BlueprintVersion]:
    return blueprint.versions.select_related("created_by", "approved_by").order_by("-number")


def blueprint_usage(user, blueprint: Blueprint, *, tenant) -> QuerySet:
    """Runs in ``tenant`` the user may see that were built from ``blueprint``: created from one of its
    versions, or started from it by the infra agent (recorded in the run's belief)."""
    from runs.selectors import runs_for_user

    version_ids = blueprint.versions.values("pk")
    return runs_for_user(user, tenant=tenant).filter(
        Q(blueprint_version_id__in=version_ids) | Q(belief__blueprint__id=blueprint.pk)
    )


# --- reuse by a run --------------------------------------------------------------------------------


def reusable_version(user, *, tenant, version_id: int) -> BlueprintVersion:
    """The approved version ``version_id`` if ``user`` may reuse it in ``tenant`` (the tenant's own
    blueprint or a platform one); otherwise a ValidationError that says nothing about other tenants."""
    from django.core.exceptions import ValidationError

    version = (
        versions_for(user)
        .filter(pk=version_id)
        .filter(Q(blueprint__tenant=tenant) | Q(blueprint__tenant__isnull=True))
        .first()
    )
    if version is None:
        raise ValidationError(
            {"blueprint_version_id": f"Blueprint version {version_id} does not exist in {tenant.name}."}
        )
    if version.approved_at is None:
        raise ValidationError(
            {
                "blueprint_version_id": f"{version.blueprint.name} version {version.number} is not approved "
                "yet; an approver must approve it before it can be reused."
            }
        )
    return version
