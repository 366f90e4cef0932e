"""Runs every Rego unit test (`test_*` rules in iac/policies/*_test.rego) as its own pytest case."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from iac.gates.opa import POLICY_DIR, discover_rego_tests, load_modules, policy_packages, run_rego_tests

REGO_TESTS = discover_rego_tests()


@functools.cache
def _results() -> dict:
    # One engine run for the whole suite; each parametrized case reads its own result.
    return {r.name: r for r in run_rego_tests()}


def test_every_policy_has_tests() -> None:
    tested = {name.split(".")[1].removesuffix("_test") for name in REGO_TESTS}
    policies = {pkg.removeprefix("gantry.") for pkg in policy_packages(load_modules())}
    assert policies <= tested, f"policies without Rego tests: {sorted(policies - tested)}"
    assert len(REGO_TESTS) >= 2 * len(policies)


@pytest.mark.parametrize("name", REGO_TESTS)
def test_rego(name: str) -> None:
    result = _results()[name]
    assert result.passed, f"{name}: {result.error}"


def _write_policy(tmp_path: Path, tests: str) -> Path:
    (tmp_path / "demo.rego").write_text(
        "package gantry.demo\nimport rego.v1\n\n"
        "deny_for(plan) := {a | some r in plan.resource_changes; a := upper(r.address)}\n"
    )
    (tmp_path / "demo_test.rego").write_text(f"package gantry.demo_test\nimport rego.v1\n\n{tests}")
    return tmp_path


def test_runner_reports_failing_and_undefined_tests(tmp_path: Path) -> None:
    policy_dir = _write_policy(
        tmp_path,
        'test_passes if { data.gantry.demo.deny_for({"resource_changes": [{"address": "a"}]}) == {"A"} }\n'
        'test_wrong if { count(data.gantry.demo.deny_for({"resource_changes": []})) == 1 }\n'
        "test_not_boolean := 3\n",
    )
    results = {r.name: r for r in run_rego_tests(policy_dir)}
    assert results["gantry.demo_test.test_passes"].passed
    assert not results["gantry.demo_test.test_wrong"].passed
    assert "undefined" in results["gantry.demo_test.test_wrong"].error


def test_runner_reports_policy_errors(tmp_path: Path) -> None:
    policy_dir = _write_policy(tmp_path, "test_broken if { x := }\n")
    [result] = run_rego_tests(policy_dir)
    assert not result.passed
    assert result.error


def test_policy_dir_is_the_repo_folder() -> None:
    assert (POLICY_DIR / "lib.rego").is_file()
