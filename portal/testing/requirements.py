"""What a test needs from the machine, in one place: a missing program skips the test with its reason on a
developer's machine and fails it under GANTRY_REQUIRE_SERVICES=1 (``make test``, CI), where a skipped
integration test would hide a gap.

    pytestmark = requires("terraform")          # a module (or a test: @requires("terraform", "checkov"))
    require_tool("chromium")                    # inside a fixture or a test
    unavailable("PostgreSQL: initdb not found")  # any other missing service, same rule
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE_ENV = "GANTRY_REQUIRE_SERVICES"
MARKER = "requires_tools"


def services_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip the current test with `reason`, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set, so a missing program fails instead of skipping)")
    pytest.skip(reason)


def _on_path(name: str) -> Callable[[], str | None]:
    return lambda: shutil.which(name)


def _terraform() -> str | None:
    from iac.terraform import _setting  # the runner's own lookup: the setting, else the environment

    return shutil.which(_setting("TERRAFORM_BIN", os.environ.get("TERRAFORM_BIN", "terraform")))


def _checkov() -> str | None:
    from iac.gates.checkov import _checkov_bin

    path = _checkov_bin()
    return path if Path(path).exists() else None


def chromium_path() -> str:
    return os.environ.get("GANTRY_CHROMIUM", "/usr/bin/chromium")


def _chromium() -> str | None:
    path = chromium_path()
    return path if Path(path).is_file() and os.access(path, os.X_OK) else None


@dataclass(frozen=True)
class Tool:
    find: Callable[[], str | None]
    how_to_get: str


TOOLS: dict[str, Tool] = {
    "terraform": Tool(_terraform, "install Terraform 1.11 (terraform on PATH) or set TERRAFORM_BIN"),
    "checkov": Tool(_checkov, "run `make tools` (it installs .tools/checkov) or set CHECKOV_BIN"),
    "chromium": Tool(_chromium, "apt-get install chromium, or set GANTRY_CHROMIUM"),
    "redis-server": Tool(_on_path("redis-server"), "apt-get install redis-server"),
    "initdb": Tool(_on_path("initdb"), "apt-get install postgresql (initdb and postgres on PATH)"),
}


def _known(names: tuple[str, ...]) -> None:
    if unknown := sorted(set(names) - set(TOOLS)):
        raise ValueError(f"unknown tool {', '.join(unknown)}; known: {', '.join(sorted(TOOLS))}")


def missing(*names: str) -> list[str]:
    """One "missing X: how to get it" line per program in `names` that this machine lacks."""
    _known(names)
    return [f"missing {name}: {TOOLS[name].how_to_get}" for name in names if TOOLS[name].find() is None]


def require_tool(*names: str) -> None:
    """Return when every program is there; otherwise skip (or fail, when required) saying what is missing."""
    if lines := missing(*names):
        unavailable("; ".join(lines))


def requires(*names: str) -> pytest.MarkDecorator:
    """A mark that runs `require_tool(*names)` before the test (the root conftest's setup hook reads it)."""
    _known(names)  # a misspelt name fails at import, not at setup
    return getattr(pytest.mark, MARKER)(*names)


def check_marks(item: pytest.Item) -> None:
    """The setup hook's half: every `requires(...)` mark on the test, its class and its module."""
    for mark in item.iter_markers(MARKER):
        require_tool(*mark.args)
