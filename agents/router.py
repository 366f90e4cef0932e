"""Route an intent to the agent for its domain.

``route(intent, context)`` always returns an ``AgentAnswer``: the infra agent's answer for infra
create/modify/destroy requests, and a "not available yet" answer (with the intent preserved) for the
domains that have no agent yet. ``choose_agent(intent)`` only picks.
"""

from __future__ import annotations

from agents.domains import Agent, AgentAnswer, AgentContext
from agents.infra import InfraAgent
from agents.intent import Domain, Intent
from agents.ops.agent import OpsAgent

__all__ = ["AGENTS", "Agent", "AgentAnswer", "AgentContext", "NotAvailable", "choose_agent", "route"]

_PLANNED = {
    Domain.COST: "cost questions (spend, forecasts, budgets)",
    Domain.SECURITY: "security scans",
    Domain.MONITORING: "logs and metrics",
    Domain.OPS: "operations on running resources (restart, stop, scale)",
    Domain.CONFIG: "configuration of instances (packages, features)",
    Domain.ML: "analysis with machine-learning services",
    Domain.COMPLIANCE: "compliance checks",
}


class NotAvailable:
    """Stands in for an agent that does not exist yet; answers politely and keeps the intent."""

    name = "unavailable"
    domains = frozenset(_PLANNED)

    def handle(self, intent: Intent, context: AgentContext) -> AgentAnswer:
        what = _PLANNED.get(intent.domain, f"{intent.domain.value} requests")
        return AgentAnswer(
            agent=self.name,
            status="not_available",
            intent=intent,
            message=(
                f"I understood this as a {intent.domain.value} request, but {what} are not available "
                "yet. Your request has been kept as it was understood."
            ),
        )


AGENTS: list[Agent] = [InfraAgent(), OpsAgent()]
_FALLBACK = NotAvailable()


def choose_agent(intent: Intent, agents: list[Agent] | None = None) -> Agent:
    """The first registered agent that serves the intent's domain (and action, when it says which it
    handles); else ``NotAvailable``."""
    for agent in agents if agents is not None else AGENTS:
        if intent.domain not in agent.domains:
            continue
        actions = getattr(agent, "actions", None)
        if actions is not None and intent.action not in actions:
            continue
        return agent
    return _FALLBACK


def route(
    intent: Intent, context: AgentContext | None = None, *, agents: list[Agent] | None = None
) -> AgentAnswer:
    agent = choose_agent(intent, agents)
    if isinstance(agent, NotAvailable) and intent.domain == Domain.INFRA:
        return AgentAnswer(
            agent=agent.name,
            status="not_available",
            intent=intent,
            message=(
                f"The infra agent creates, changes and destroys infrastructure; '{intent.action.value}' "
                "requests about infrastructure are not available yet."
            ),
        )
    return agent.handle(intent, context or AgentContext())
