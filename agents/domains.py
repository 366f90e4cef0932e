"""The contract between the router and the domain agents: the ``Agent`` protocol, the context an
agent works in and the ``AgentAnswer`` it gives back. No agent raises for an ordinary "no": refusals,
questions and "not available yet" are answers, so callers (views, API, MCP, the ``intent`` command)
handle one shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agents.intent import Domain, Intent

# "proposed": a free-form composition (agents.composition) checked and shown for review, not planned.
AnswerStatus = Literal["ready", "needs_clarification", "refused", "not_available", "proposed"]


@dataclass
class AgentContext:
    """Where a request is to be carried out. Everything is optional so the agents can be tried without a
    tenant (``manage.py intent``); checks that need a missing piece are skipped and noted.

    ``estimator(intent, specs)`` returns an ``agents.commit.CostEstimate`` (or None) without running
    Terraform; the cost gate measures the real plan later."""

    tenant: Any = None
    account: Any = None
    config: Any = None
    user: Any = None
    estimator: Callable[[Intent, list[dict[str, Any]]], Any] | None = None
    use_blueprints: bool = True
    # A BlueprintVersion the requester chose ("reuse this blueprint"): its stack and parameters are used.
    blueprint_version: Any = None

    @classmethod
    def for_config(cls, config, *, user=None, **kwargs: Any) -> AgentContext:
        return cls(tenant=config.tenant, account=config.account, config=config, user=user, **kwargs)

    @property
    def default_region(self) -> str | None:
        if self.config is not None:
            return self.config.region
        if self.account is not None:
            return self.account.default_region
        return None

    @property
    def env(self) -> str | None:
        return self.config.env if self.config is not None else None


@dataclass
class AgentAnswer:
    agent: str
    status: AnswerStatus
    intent: Intent
    message: str
    specs: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    questions: list[Any] = field(default_factory=list)  # agents.clarification.Question
    blueprint: dict[str, Any] | None = None  # the blueprint the specs start from
    estimate: Any = None  # agents.commit.CostEstimate
    composition: dict[str, Any] | None = None  # a free-form proposal (agents.composition.compose_answer)
    # A change for another engine than Terraform: {"engine": "aws", "source": {...}} becomes the run's
    # engine and source (`Run.engine`, `Run.spec`).
    run_source: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ready"

    @property
    def spec(self) -> dict[str, Any] | None:
        return self.specs[0] if self.specs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "status": self.status,
            "message": self.message,
            "intent": self.intent.to_dict(),
            "specs": self.specs,
            "refusals": list(self.refusals),
            "notes": list(self.notes),
            "questions": [q.to_dict() if hasattr(q, "to_dict") else q for q in self.questions],
            "blueprint": self.blueprint,
            "estimate": self.estimate.to_dict() if hasattr(self.estimate, "to_dict") else self.estimate,
            "composition": self.composition,
            "run_source": self.run_source,
        }


@runtime_checkable
class Agent(Protocol):
    name: str
    domains: frozenset[Domain]

    def handle(self, intent: Intent, context: AgentContext) -> AgentAnswer: ...
