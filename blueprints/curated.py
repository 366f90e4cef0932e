"""The curated platform blueprints shipped in ``blueprints/data/curated.json``.

``curated()`` reads the file (no database); ``curated_defaults(stack)`` is what the infra agent falls
back to when no blueprint row applies. Loading the rows is ``blueprints.services.blueprint_load_curated``
(run by the data migration and ``manage.py load_blueprints``).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from blueprints.stacks import STACKS

CURATED_PATH = Path(__file__).resolve().parent / "data" / "curated.json"


@cache
def _document() -> dict[str, Any]:
    document = json.loads(CURATED_PATH.read_text(encoding="utf-8"))
    for entry in document["blueprints"]:
        if entry["stack"] not in STACKS:
            raise ValueError(f"curated blueprint {entry['slug']} names an unknown stack {entry['stack']!r}")
        unknown = set(entry["defaults"]) - set(STACKS[entry["stack"]].parameters)
        if unknown:
            raise ValueError(f"curated blueprint {entry['slug']} has unknown parameters {sorted(unknown)}")
    return document


def curated() -> list[dict[str, Any]]:
    """A deep copy of every curated entry (slug, name, description, stack, resource_types, defaults)."""
    return copy.deepcopy(_document()["blueprints"])


def curated_defaults(stack: str) -> dict[str, Any]:
    for entry in _document()["blueprints"]:
        if entry["stack"] == stack:
            return copy.deepcopy(entry["defaults"])
    return {}
