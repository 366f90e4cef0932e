"""Both kinds of spec share one placement: the same fields, the same checks and the same messages; the
spec modules import one way."""

from __future__ import annotations

import subprocess
import sys

import pytest

from iac.composed import ComposedSpec
from iac.placement import Placement, SpecError
from iac.spec import CompositionSpec
from portal.testing.services import BASE_DIR

PLACEMENT = {
    "tags": {"Owner": "platform"},
    "region": "ap-south-1",
    "account": {"id": 7, "account_id": "100000000007", "mode": "sandbox"},
    "backend": {"bucket": "gantry-state-100000000007-ap-south-1", "key": "tenants/acme/dev/x.tfstate",
                "region": "ap-south-1"},
    "workspace": "acme-dev",
    "sandbox_endpoint": "http://127.0.0.1:4599",
}  # fmt: skip
STACK = {"stack": "static_bucket", "parameters": {"bucket_name": "acme-static-assets"}}
COMPOSITION = {
    "name": "audit-logs",
    "summary": "A KMS key.",
    "modules": [{"name": "logs_key", "module": "kms", "inputs": {"name": "audit-logs"}}],
}


def stack_spec(**placement) -> dict:
    return {**PLACEMENT, **STACK, **placement}


def composed_spec(composition: dict | None = None, **placement) -> dict:
    return {**PLACEMENT, "composition": composition or COMPOSITION, **placement}


def refusal(kind: type[Placement], data: dict) -> str:
    with pytest.raises(SpecError) as caught:
        kind.parse(data)
    return str(caught.value)


def test_both_specs_are_placements_and_valid_ones_parse():
    assert issubclass(CompositionSpec, Placement) and issubclass(ComposedSpec, Placement)
    assert CompositionSpec.parse(stack_spec()).region == ComposedSpec.parse(composed_spec()).region


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ({"tags": {"k" * 129: "v"}}, "must be 1-128 characters"),
        ({"tags": {"Owner": "v" * 257}}, "value longer than 256 characters"),
        ({"tags": {"aws:cloudformation": "x"}}, "the aws: prefix is reserved"),
        ({"tags": {f"k{i}": "v" for i in range(51)}}, "at most 50 tags"),
        ({"tags": {"Owner": "\ud800"}}, "not valid Unicode text"),
        ({"region": "mumbai"}, "not an AWS region code like ap-south-1"),
        ({"workspace": "Acme Dev"}, "workspace must be lower-case letters"),
        ({"sandbox_endpoint": "ftp://x"}, "plain http(s)://host:port URL"),
        ({"sandbox_endpoint": None}, "a sandbox account needs sandbox_endpoint"),
        ({"account": {"id": 7, "account_id": "1234", "mode": "sandbox"}}, "an AWS account id is 12 digits"),
    ],
)
def test_a_placement_problem_reads_the_same_from_both_specs(placement, message):
    from_stack = refusal(CompositionSpec, stack_spec(**placement))
    from_composition = refusal(ComposedSpec, composed_spec(**placement))
    assert message in from_stack
    assert from_stack == from_composition


def test_the_spec_modules_import_one_way():
    """placement ← state ← spec ← composed: loading the state module loads no spec module above it."""
    code = "import sys, iac.state; print(sorted(m for m in sys.modules if m in ('iac.spec', 'iac.composed')))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
