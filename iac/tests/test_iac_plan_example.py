"""`iac_plan --example` prints a spec that the renderer accepts, and the README shows that same spec."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from iac.spec import build_spec

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> dict:
    out = StringIO()
    call_command("iac_plan", "--example", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_the_example_is_a_spec_the_renderer_accepts(own):
    request = example()
    spec = build_spec(
        request["stack"],
        request["parameters"],
        account=own.account,
        config=own.dev,
        tags=request["tags"],
        region=request["region"],
        sandbox_endpoint="http://127.0.0.1:4599",
    )
    assert spec.stack == "static_bucket" and spec.tags["Team"] == "web"


def test_the_readme_shows_the_example():
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(), re.S)
    assert example() in [json.loads(block) for block in blocks]


def test_without_a_spec_or_example_it_says_what_to_pass():
    with pytest.raises(CommandError, match="--example"):
        call_command("iac_plan", stdout=StringIO())
