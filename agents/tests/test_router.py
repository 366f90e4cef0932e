from __future__ import annotations

import pytest

from agents.domains import Agent, AgentAnswer, AgentContext
from agents.infra import InfraAgent
from agents.intent import Domain, Intent
from agents.offline_parser import parse
from agents.router import NotAvailable, choose_agent, route


def test_infra_changes_go_to_the_infra_agent():
    for text in ("Create 3 t3.medium in ap-south-1", "destroy the bucket named logs-old in us-east-1"):
        assert isinstance(choose_agent(parse(text)), InfraAgent)


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("What did we spend on EC2 last month?", Domain.COST),
        ("Scan my S3 buckets for public access", Domain.SECURITY),
        ("show me error logs from the last 24h", Domain.MONITORING),
        ("check my compliance", Domain.COMPLIANCE),
    ],
)
def test_other_domains_are_not_available_yet(text, domain):
    intent = parse(text)
    assert intent.domain == domain
    answer = route(intent)
    assert isinstance(answer, AgentAnswer)
    assert answer.status == "not_available" and not answer.ok
    assert answer.intent is intent  # preserved as understood
    assert domain.value in answer.message and "not available yet" in answer.message
    assert answer.to_dict()["intent"]["domain"] == domain.value


def test_operations_go_to_the_ops_agent_as_an_aws_action_request():
    answer = route(parse("restart the servers tagged env=staging"))
    assert (answer.agent, answer.status) == ("ops", "ready")
    assert answer.run_source == {
        "engine": "aws",
        "source": {
            "action": "ec2.reboot_instances",
            "params": {},
            "selector": {"tags": {"env": "staging"}},
        },
    }


def test_infra_questions_are_not_available_yet():
    intent = parse("list my ec2 instances in us-east-1")
    assert intent.domain == Domain.INFRA
    answer = route(intent)
    assert answer.status == "not_available" and "not available yet" in answer.message


def test_agents_satisfy_the_protocol():
    assert isinstance(InfraAgent(), Agent)
    assert isinstance(NotAvailable(), Agent)


def test_a_registered_agent_takes_its_domain():
    class CostAgent:
        name = "cost"
        domains = frozenset({Domain.COST})

        def handle(self, intent: Intent, context: AgentContext) -> AgentAnswer:
            return AgentAnswer(agent=self.name, status="ready", intent=intent, message="spent a lot")

    intent = parse("What did we spend on EC2 last month?")
    answer = route(intent, agents=[InfraAgent(), CostAgent()])
    assert answer.agent == "cost" and answer.ok


def test_route_without_context_still_answers():
    answer = route(parse("Create 3 t3.medium behind ALB in ap-south-1"))
    assert answer.status == "ready"
    assert answer.spec["stack"] == "web_tier"
