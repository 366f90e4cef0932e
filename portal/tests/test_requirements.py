"""`portal.testing.requirements`: a missing program skips on a developer's machine and fails under
GANTRY_REQUIRE_SERVICES=1, saying what is missing and how to get it."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest

from portal.testing.fixtures import start_or_skip
from portal.testing.requirements import REQUIRE_ENV, check_marks, missing, require_tool, requires
from portal.testing.services import ServiceUnavailable


@pytest.fixture
def no_programs(monkeypatch, settings, tmp_path):
    """A PATH with nothing on it, and the tools' own settings pointing at nothing."""
    monkeypatch.setenv("PATH", str(tmp_path))
    settings.TERRAFORM_BIN = "terraform"
    settings.CHECKOV_BIN = str(tmp_path / "no-checkov")
    monkeypatch.setenv("GANTRY_CHROMIUM", str(tmp_path / "no-chromium"))


def test_a_missing_program_skips_without_the_setting(no_programs, monkeypatch):
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing terraform: install Terraform"):
        require_tool("terraform")


@pytest.mark.parametrize("name", ["terraform", "checkov", "chromium", "redis-server", "initdb"])
def test_a_missing_program_fails_with_the_setting(no_programs, monkeypatch, name):
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception) as failure:
        require_tool(name)
    assert f"missing {name}: " in str(failure.value) and REQUIRE_ENV in str(failure.value)


def test_every_missing_program_is_named_at_once(no_programs):
    lines = missing("terraform", "chromium")
    assert [line.split(":")[0] for line in lines] == ["missing terraform", "missing chromium"]


def test_a_present_program_passes_in_both_modes(monkeypatch, settings, tmp_path):
    program = tmp_path / "terraform"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    settings.TERRAFORM_BIN = "terraform"
    for value in ("", "1"):
        monkeypatch.setenv(REQUIRE_ENV, value)
        assert missing("terraform") == []
        require_tool("terraform")


def test_a_misspelt_program_is_refused_up_front():
    with pytest.raises(ValueError, match="unknown tool terrafrom"):
        requires("terrafrom")
    with pytest.raises(ValueError, match="unknown tool"):
        require_tool("terrafrom")


def test_the_mark_is_checked_before_the_test(no_programs, monkeypatch):
    mark = requires("checkov")
    item = SimpleNamespace(iter_markers=lambda name: [mark.mark] if name == mark.mark.name else [])
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="missing checkov"):
        check_marks(item)
    monkeypatch.setenv(REQUIRE_ENV, "")
    with pytest.raises(pytest.skip.Exception, match="missing checkov"):
        check_marks(item)


class _Missing:
    def __enter__(self):
        raise ServiceUnavailable("redis-server not found")

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(("value", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_service_fixtures_follow_the_same_rule(monkeypatch, value, outcome):
    monkeypatch.setenv(REQUIRE_ENV, value)
    with contextlib.ExitStack() as stack, pytest.raises(outcome, match="redis-server not found"):
        start_or_skip(stack, _Missing())
