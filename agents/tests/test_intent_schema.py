"""The intent schema: validation, versioning and the JSON-safe dict."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from agents.intent import (
    SCHEMA_VERSION,
    Action,
    Ambiguity,
    Budget,
    Domain,
    Flag,
    Intent,
    Operation,
    Params,
    Resource,
    ResourceType,
    TimeRange,
)


def _intent(**fields: Any) -> Intent:
    base: dict[str, Any] = {"action": "create", "domain": "infra", "confidence": 0.9}
    base.update(fields)
    return Intent.model_validate(base)


def test_minimal_intent_has_defaults() -> None:
    intent = _intent()
    assert intent.schema_version == SCHEMA_VERSION == "1"
    assert intent.action is Action.CREATE and intent.domain is Domain.INFRA
    assert intent.resources == [] and intent.tags == {} and intent.filters == {}
    assert intent.region is None and intent.budget is None and intent.environment is None
    assert not intent.is_ambiguous


def test_full_intent_round_trips_through_json() -> None:
    intent = _intent(
        resources=[
            {"type": "ec2_instance", "count": 3, "instance_type": "t3.medium"},
            {"type": "rds_instance", "count": 1, "engine": "postgres", "instance_class": "db.t3.micro"},
            {"type": "eks_cluster", "count": 1, "node_count": 3, "node_instance_type": "m5.large"},
        ],
        region="ap-south-1",
        environment="prod",
        budget={"amount": "1500", "currency": "INR", "period": "day"},
        tags={"team": "payments"},
        filters={"Env": "staging"},
        params={"window": "24h", "log_level": "error", "checks": ["public_access"]},
        constraints=["behind_alb", "multi_az"],
        assumptions=["count defaulted to 1"],
        ambiguities=[{"field": "region", "question": "Which region?", "options": ["us-east-1"]}],
        raw_text="Create 3 t3.medium behind ALB",
    )
    data = intent.to_dict()
    text = json.dumps(data)  # JSON-safe: no Decimal, no enums
    assert data["budget"] == {"amount": "1500", "currency": "INR", "period": "day"}
    assert data["resources"][0]["type"] == "ec2_instance"
    again = Intent.model_validate(json.loads(text))
    assert again == intent
    assert again.budget is not None and again.budget.amount == Decimal("1500")
    assert again.is_ambiguous
    assert again.resource_types == ["ec2_instance", "rds_instance", "eks_cluster"]
    assert [r.type for r in again.resources_of(ResourceType.RDS_INSTANCE)] == ["rds_instance"]
    assert again.params.window_seconds == 86_400


@pytest.mark.parametrize(
    "fields",
    [
        {"schema_version": "2"},
        {"action": "explode"},
        {"domain": "weather"},
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"region": "mumbai"},
        {"region": "AP-SOUTH-1"},
        {"environment": "qa"},
        {"budget": {"amount": "0", "currency": "INR", "period": "day"}},
        {"budget": {"amount": "-5", "currency": "INR", "period": "day"}},
        {"budget": {"amount": "5", "currency": "JPY", "period": "day"}},
        {"budget": {"amount": "5", "currency": "INR", "period": "week"}},
        {"resources": [{"type": "spaceship"}]},
        {"resources": [{"type": "ec2_instance", "count": -1}]},
        {"resources": [{"type": "ec2_instance", "instance_type": "medium"}]},
        {"resources": [{"type": "rds_instance", "instance_class": "t3.micro"}]},
        {"resources": [{"type": "asg", "min_count": 5, "max_count": 2}]},
        {"resources": [{"type": "s3_bucket", "names": [""]}]},
        {"resources": [{"type": "ec2_instance", "colour": "red"}]},
        {"params": {"window": "yesterday"}},
        {"params": {"log_level": "loud"}},
        {"params": {"command": "df -h\nrm -rf /"}},
        {"params": {"command": "x" * 257}},
        {"params": {"command": "   "}},
        {"params": {"tag_keys": [""]}},
        {"params": {"time_range": {"expression": "last_week_or_so", "text": "x"}}},
        {"params": {"time_range": {"expression": "since_2026-02-30"}}},
        {"params": {"time_range": {"expression": "last_6h", "text": "x", "tz": "UTC"}}},
        {"flags": ["suspicious"]},
        {"constraints": ["Behind ALB!"]},
        {"tags": {"": "x"}},
        {"ambiguities": [{"field": "region", "question": ""}]},
        {"unknown_field": 1},
    ],
)
def test_invalid_payloads_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _intent(**fields)


def test_models_validate_on_assignment() -> None:
    intent = _intent()
    with pytest.raises(ValidationError):
        intent.region = "nowhere"
    with pytest.raises(ValidationError):
        intent.confidence = 2


def test_building_blocks_are_usable_directly() -> None:
    budget = Budget(amount=Decimal("0.05"), currency="USD", period="hour")
    resource = Resource(type=ResourceType.ALB)
    ambiguity = Ambiguity(field="targets", question="Which servers?", options=["all", "by tag"])
    params = Params(window="30m")
    assert params.window_seconds == 1800
    assert Params().window_seconds is None
    intent = Intent(
        action=Action.QUERY,
        domain=Domain.COST,
        resources=[resource],
        budget=budget,
        ambiguities=[ambiguity],
        params=params,
        confidence=0.3,
    )
    assert intent.to_dict()["budget"]["amount"] == "0.05"
    assert resource.count is None  # "all that match" unless a count was given


def test_operation_fields_round_trip() -> None:
    intent = _intent(
        action="operate",
        domain="ops",
        operation=Operation.RUN_COMMAND,
        resources=[
            {"type": "secret", "names": ["db/password"]},
            {"type": "ecs_service", "count": 4, "names": ["web"], "attributes": {"cluster": "prod"}},
        ],
        params={
            "command": "df -h",
            "tag_keys": ["Owner"],
            "time_range": {"expression": "last_6h", "text": "last 6 hours"},
        },
        flags=["embedded_code"],
    )
    again = Intent.model_validate(json.loads(json.dumps(intent.to_dict())))
    assert again == intent and again.is_flagged
    assert again.flags == [Flag.EMBEDDED_CODE]
    assert again.params.time_range == TimeRange(expression="last_6h", text="last 6 hours")
    assert again.resources_of(ResourceType.SECRET)[0].names == ["db/password"]
    assert {op.value for op in Operation} == {
        "start",
        "stop",
        "restart",
        "scale",
        "snapshot",
        "rotate",
        "run_command",
        "tag",
        "untag",
    }


def test_older_payloads_without_the_new_fields_still_validate() -> None:
    """The fields are additive: an intent stored before they existed reads with their defaults."""
    intent = _intent(params={"window": "24h"})
    stored = intent.to_dict()
    for key in ("flags",):
        del stored[key]
    for key in ("time_range", "command", "tag_keys"):
        del stored["params"][key]
    again = Intent.model_validate(stored)
    assert again == intent and again.flags == [] and again.params.command is None
