"""Clarification: the intent's open points (parser ambiguities plus checks against the active config)
become questions with options and an estimated scope; the requester's answers resume the intent.

``questions_for(intent, config=...)`` lists the questions; ``apply_answers(intent, answers, config=...)``
takes ``{field: answer}`` and returns a new ``Intent`` with those points settled. An answer must pick an
offered option or be a valid free value for that field; anything else raises ``ClarificationError``
with a message meant for the requester.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from agents import screening
from agents import vocabulary as V
from agents.intent import MAX_COMMAND, REGION_RE, Action, Currency, Intent, Period, ResourceType

__all__ = ["ClarificationError", "Question", "apply_answers", "estimated_scope", "questions_for"]

MAX_COUNT = 1000
_CHANGE_ACTIONS = frozenset({Action.CREATE, Action.MODIFY, Action.DESTROY})
_TAG_RE = re.compile(r"^\s*([A-Za-z][\w.:/+@-]{0,127})\s*[=:]\s*([\w.:/+@ -]{1,256}?)\s*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$")
_BUDGET_AMOUNT_RE = re.compile(
    r"(\d{1,12}(?:,\d{2,3}){0,4}(?:\.\d{1,6})?)\s*(?:/|per|a|an)?\s*(hour|hr|day|month|mo)?\b", re.IGNORECASE
)

ALL_TARGETS = "all of them in the region"
TAG_TARGETS = "those with a tag (key=value)"
NAMED_TARGETS = "by name or id"

# Labels the offline parser offers -> what they mean.
RESOURCE_OPTIONS: dict[str, ResourceType] = {
    "EC2 instances": ResourceType.EC2_INSTANCE,
    "an S3 bucket": ResourceType.S3_BUCKET,
    "an RDS database": ResourceType.RDS_INSTANCE,
    "an EKS cluster": ResourceType.EKS_CLUSTER,
    "a Lambda function": ResourceType.LAMBDA_FUNCTION,
}
COMPLIANCE_MEANING: dict[str, tuple[list[str], list[str]]] = {  # label -> (checks, frameworks)
    "tag compliance (required tags present)": (["tagging"], []),
    "CIS AWS Foundations Benchmark": ([], ["cis"]),
    "encryption at rest": (["encryption"], []),
    "public access (S3, security groups)": (["public_access"], []),
    "PCI DSS": ([], ["pci_dss"]),
    "HIPAA": ([], ["hipaa"]),
}


class ClarificationError(ValueError):
    """An answer that does not fit its question; ``str()`` is meant for the requester."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Question:
    field: str
    question: str
    options: list[str] = field(default_factory=list)
    free: bool = True  # a value outside the options is accepted when it validates
    hint: str = ""  # what a free value looks like
    scope: str = ""  # what the answer decides, in plain words

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "question": self.question,
            "options": list(self.options),
            "free": self.free,
            "hint": self.hint,
            "scope": self.scope,
        }


def _label(kind: ResourceType | str) -> str:
    return str(getattr(kind, "value", kind)).replace("_", " ")


def estimated_scope(intent: Intent) -> dict[str, int | None]:
    """Resource type -> how many the intent touches (None: "all that match", unknown yet)."""
    scope: dict[str, int | None] = {}
    for resource in intent.resources:
        key = resource.type.value
        if resource.count is None or (key in scope and scope[key] is None):
            scope[key] = None
        else:
            scope[key] = (scope.get(key) or 0) + resource.count
    return scope


def describe_scope(intent: Intent) -> str:
    parts = []
    for kind, count in estimated_scope(intent).items():
        label = _label(kind)
        parts.append(f"every matching {label}" if count is None else f"{count} × {label}")
    return ", ".join(parts) if parts else "nothing identified yet"


def _account(config):
    return getattr(config, "account", None) if config is not None else None


def _region_options(config, offered: list[str]) -> list[str]:
    account = _account(config)
    if account is not None:
        return list(account.regions)
    return list(offered or V.POPULAR_REGIONS)


def questions_for(intent: Intent, *, config=None) -> list[Question]:
    """The questions to ask before this intent can be carried out, most important first."""
    questions: dict[str, Question] = {}
    scope = describe_scope(intent)
    config_region = getattr(config, "region", None) if config is not None else None
    for ambiguity in intent.ambiguities:
        name = ambiguity.field
        if name in questions:
            continue
        if name == "region" and config_region and "not an AWS region" not in ambiguity.question:
            continue  # "no region given": the config's default answers it
        question = Question(name, ambiguity.question, list(ambiguity.options), scope=scope)
        if name == "region":
            question.options = _region_options(config, ambiguity.options)
            question.hint = "an AWS region code such as ap-south-1"
            question.scope = f"where {scope} will be created"
        elif name == "count":
            question.hint = f"a whole number from 1 to {MAX_COUNT}"
            question.scope = "how many resources are created (and paid for)"
        elif name == "budget.currency":
            question.free = False
            question.scope = "the budget the cost gate checks the plan against"
        elif name == "targets":
            question.hint = "a tag as key=value, or a resource name or id"
            question.scope = f"which existing resources change: {scope}"
        elif name in ("params.checks", "params.task", "action", "resources"):
            question.free = name in ("params.checks",)
            question.hint = "one of the options" if not question.free else "a check such as encryption"
        elif name == "request":
            question.options = []
            question.hint = "the request again, in other words"
        elif name == "cluster":
            question.hint = "the ECS cluster's name"
            question.scope = f"which service changes: {scope}"
        elif name == "params.command":
            question.options = []
            question.hint = "one command, without pipes, ';', '&&' or substitutions"
            question.scope = f"what runs on {scope}"
        questions[name] = question

    needs_region = intent.action in _CHANGE_ACTIONS and intent.region is None and not config_region
    if needs_region and "region" not in questions:
        questions["region"] = Question(
            "region",
            "Which AWS region should this go in?",
            _region_options(config, []),
            hint="an AWS region code such as ap-south-1",
            scope=f"where {scope} will be created",
        )
    if intent.action == Action.CREATE and "count" not in questions:
        missing = [r for r in intent.resources if r.count is None]
        if missing:
            questions["count"] = Question(
                "count",
                f"How many {_label(missing[0].type)}s should I create?",
                ["1", "2", "3", "5"],
                hint=f"a whole number from 1 to {MAX_COUNT}",
                scope="how many resources are created (and paid for)",
            )
    order = ["request", "action", "resources", "targets", "region", "count", "budget.currency"]
    return sorted(questions.values(), key=lambda q: order.index(q.field) if q.field in order else len(order))


# --- answers ---------------------------------------------------------------------------------------


def _validate(question: Question, raw: Any, config) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ClarificationError(f"Please answer: {question.question}", field=question.field)
    value = str(raw).strip()
    if len(value) > 300:
        raise ClarificationError("That answer is too long.", field=question.field)
    if question.field == "targets" and value in (TAG_TARGETS, NAMED_TARGETS):
        raise ClarificationError(
            "Give the tag as key=value (for example env=staging) or the resource's name or id.",
            field="targets",
        )
    if value in question.options:
        return value
    lowered = {option.lower(): option for option in question.options}
    if value.lower() in lowered:
        return lowered[value.lower()]
    if question.field == "region":
        code = value.lower()
        if not REGION_RE.match(code):
            raise ClarificationError(
                f"'{value}' is not an AWS region code (like ap-south-1).", field="region"
            )
        account = _account(config)
        if account is not None and code not in account.regions:
            raise ClarificationError(
                f"{code} is not allowed for account {account.name}; choose one of {', '.join(account.regions)}.",
                field="region",
            )
        return code
    if question.field == "count":
        if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
            raise ClarificationError(
                f"The count must be a whole number from 1 to {MAX_COUNT}.", field="count"
            )
        return str(int(value))
    if question.field == "targets":
        if _TAG_RE.match(value) or _NAME_RE.match(value):
            return value
        raise ClarificationError(
            f"'{value}' is neither a tag (key=value) nor a resource name or id.", field="targets"
        )
    if question.field == "cluster":
        if _NAME_RE.match(value):
            return value
        raise ClarificationError(f"'{value}' is not an ECS cluster name.", field="cluster")
    if question.field == "params.command":
        found = screening.command_findings(value)
        if found or len(value) > MAX_COMMAND or re.search(r"[\x00-\x1f\x7f]", value):
            why = (
                f"it contains {' '.join(found)}" if found else f"it must be one line of at most {MAX_COMMAND}"
            )
            raise ClarificationError(f"That command cannot be run as given: {why}.", field="params.command")
        return value
    if question.field == "params.checks" and re.match(r"^[a-z][a-z0-9_]{1,40}$", value):
        return value
    if question.field == "request":
        return value
    if question.options:
        raise ClarificationError(
            f"'{value}' is not one of the options: {', '.join(question.options)}.", field=question.field
        )
    raise ClarificationError(f"'{value}' is not a valid answer to: {question.question}", field=question.field)


def _budget_from_text(text: str, currency: str) -> dict[str, str] | None:
    for match in _BUDGET_AMOUNT_RE.finditer(text):
        try:
            amount = Decimal(match.group(1).replace(",", ""))
        except InvalidOperation:
            continue
        if amount <= 0:
            continue
        unit = (match.group(2) or "").lower()
        period = {"hour": "hour", "hr": "hour", "day": "day", "month": "month", "mo": "month"}.get(unit)
        if period is None:
            continue
        return {"amount": str(amount), "currency": currency, "period": period}
    return None


def apply_answers(intent: Intent, answers: dict[str, Any], *, config=None) -> Intent:
    """A new intent with ``answers`` ({question field: answer}) applied and those questions resolved.

    Every answer is checked before anything is applied; a field nobody asked about, an answer that is
    not an offered option or a valid free value, raises ``ClarificationError``."""
    if not isinstance(answers, dict) or not answers:
        raise ClarificationError("No answers given.")
    asked = {question.field: question for question in questions_for(intent, config=config)}
    clean: dict[str, str] = {}
    for name, raw in answers.items():
        if name not in asked:
            open_fields = ", ".join(asked) or "none"
            raise ClarificationError(f"No question about '{name}' is open (open: {open_fields}).", field=name)
        clean[name] = _validate(asked[name], raw, config)

    if "request" in clean:
        from agents.offline_parser import parse

        return parse(clean["request"], default_region=getattr(config, "region", None) or intent.region)

    data = intent.to_dict()
    assumptions: list[str] = data["assumptions"]
    for name, value in clean.items():
        if name == "region":
            data["region"] = value
            assumptions[:] = [a for a in assumptions if not a.startswith("no region given")]
        elif name == "count":
            for resource in data["resources"]:
                if resource["count"] is None or (
                    intent.action == Action.CREATE and len(data["resources"]) == 1
                ):
                    resource["count"] = int(value)
        elif name == "budget.currency":
            budget = _budget_from_text(intent.raw_text, value)
            if budget is None:
                raise ClarificationError(
                    "I could not find the budget amount in the request; please restate it with a currency.",
                    field=name,
                )
            data["budget"] = budget
        elif name == "targets":
            if value == ALL_TARGETS:
                assumptions.append("applies to every matching resource in the region (answered)")
            elif (tag := _TAG_RE.match(value)) is not None:
                data["filters"][tag.group(1)] = tag.group(2).strip()
            elif data["resources"]:
                data["resources"][0]["names"].append(value)
            else:
                raise ClarificationError("There is no resource to attach that name to.", field=name)
        elif name == "params.checks":
            checks, frameworks = COMPLIANCE_MEANING.get(value, ([value], []))
            params = data["params"]
            params["checks"] = list(dict.fromkeys([*params["checks"], *checks]))
            params["frameworks"] = list(dict.fromkeys([*params["frameworks"], *frameworks]))
        elif name == "params.task":
            data["params"]["task"] = value
        elif name == "params.command":
            data["params"]["command"] = value
        elif name == "cluster":
            service = next((r for r in data["resources"] if r["type"] == ResourceType.ECS_SERVICE), None)
            if service is None:
                raise ClarificationError("There is no ECS service to attach that cluster to.", field=name)
            service["attributes"]["cluster"] = value
        elif name == "action":
            data["action"] = value
        elif name == "resources":
            kind = RESOURCE_OPTIONS[value]
            data["resources"].append({"type": kind.value, "count": 1})
            assumptions.append(f"one {_label(kind)} (answered: {value}); say how many to change it")
    data["ambiguities"] = [a for a in data["ambiguities"] if a["field"] not in clean]
    resolved = len(clean)
    data["confidence"] = round(min(0.95, float(data["confidence"]) + 0.3 * resolved), 2)
    if not data["ambiguities"]:
        data["confidence"] = max(data["confidence"], 0.8)
    try:
        return Intent.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ClarificationError(f"That answer does not fit the request: {first['msg']}") from exc


# Re-exported for callers building their own option lists.
CURRENCIES = [c.value for c in Currency]
PERIODS = [p.value for p in Period]
