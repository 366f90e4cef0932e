from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

DEMO = "Create 3 t3.medium behind ALB in ap-south-1; max ₹1500/day"


def run(*args) -> str:
    out = StringIO()
    call_command("intent", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _offline(settings):
    settings.GANTRY_LLM_MODEL = ""


def test_text_output_without_a_tenant():
    out = run(DEMO)
    assert "Intent (parser: offline" in out
    assert "Agent: infra -> ready" in out
    assert "Create 3 t3.medium EC2 instances behind an application load balancer in ap-south-1" in out
    assert "cost: About ₹" in out
    assert '"stack": "web_tier"' in out


@pytest.mark.django_db
def test_json_output_with_a_config(own):
    document = json.loads(run(DEMO, "--config", "dev", "--tenant", "acme", "--json"))
    assert document["parser"] == "offline" and document["agent"] == "infra"
    assert document["config"] == "dev" and document["tenant"] == "acme"
    assert document["answer"]["status"] == "ready"
    spec = document["answer"]["specs"][0]
    assert spec["workspace"] == "acme-dev" and spec["account_id"] == own.account.account_id
    assert document["commit"]["stacks"] == ["web_tier"]
    assert document["belief"]["action"] == "create"
    assert document["questions"] == []


@pytest.mark.django_db
def test_questions_and_regrets_are_printed(own):
    out = run("create some servers", "--config", "prod", "--tenant", "acme")
    assert "needs_clarification" in out and "Questions:" in out and "- count:" in out
    assert "regret (danger): This changes a production environment." in out


def test_other_domains_say_not_available():
    document = json.loads(run("What did we spend on EC2 last month?", "--json"))
    assert document["agent"] == "unavailable"
    assert document["answer"]["status"] == "not_available"
    assert document["intent"]["domain"] == "cost"


@pytest.mark.django_db
def test_refusals_are_printed(own):
    out = run("Create 2 t3.small in Frankfurt", "--config", "dev", "--tenant", "acme", "--no-estimate")
    assert "refused: Region eu-central-1 is not allowed" in out


@pytest.mark.django_db
def test_unknown_config_or_tenant(own, other):
    with pytest.raises(CommandError, match="no config named 'nope'"):
        run(DEMO, "--config", "nope")
    with pytest.raises(CommandError, match="no tenant"):
        run(DEMO, "--tenant", "nope")
    with pytest.raises(CommandError, match="add --tenant"):
        run(DEMO, "--config", "dev")
