"""The registry is the one table of tools: a module joins it by being named in GROUPS, and a tool says its
least role (an action of `tenants.roles`) and whether it changes anything."""

from __future__ import annotations

import sys
import types

import pytest

from agents.mcp import registry
from agents.mcp.registry import all_tools, tool
from tenants.roles import ACTIONS


@pytest.fixture
def extra_group(monkeypatch):
    """A tool module outside agents/mcp (as a domain's agents.<domain>.tools will be), cleaned up after."""
    name = "agents.tests.extra_tools"
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(registry, "TOOLS", dict(registry.TOOLS))
    all_tools()  # the real groups registered before the extra one

    def echo(identity, args):
        return {}

    echo.__module__ = name
    return name, echo


def test_every_tool_names_a_known_action_and_a_kind():
    for spec in all_tools().values():
        assert spec.action in ACTIONS and spec.least_role == ACTIONS[spec.action].value
        assert spec.description and isinstance(spec.read_only, bool)
        assert spec.input_schema()["type"] == "object"
    assert not all_tools()["request"].read_only and all_tools()["request"].action == "run.create"


def test_a_module_named_in_groups_lists_its_tools_after_the_others(extra_group, monkeypatch):
    name, echo = extra_group
    tool("echo_for_test", action="view")(echo)
    with pytest.raises(RuntimeError, match=r"outside the modules in GROUPS: echo_for_test \(agents.tests"):
        all_tools()
    monkeypatch.setattr(registry, "GROUPS", (*registry.GROUPS, name))
    assert list(all_tools())[-1] == "echo_for_test"


def test_an_unknown_action_or_a_second_registration_is_refused(extra_group):
    _, echo = extra_group
    with pytest.raises(ValueError, match=r"Unknown action 'aws\.write'"):
        tool("echo_for_test", action="aws.write")
    with pytest.raises(ValueError, match="registered twice"):
        tool("list_runs", action="view")(echo)
