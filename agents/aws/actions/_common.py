"""Helpers the service modules share: argument models and selector reading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from .base import ActionRequestInvalid


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StrictArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def names_in(selector: Mapping[str, Any], key: str) -> list[str]:
    """The de-duplicated, non-empty strings under `key` (one string is accepted for a list)."""
    raw = selector.get(key) or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
        raise ActionRequestInvalid(f"The selector's {key} is a list of strings.")
    return list(dict.fromkeys(v.strip() for v in raw if v.strip()))


def tags_in(selector: Mapping[str, Any]) -> dict[str, str]:
    raw = selector.get("tags") or {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ActionRequestInvalid('The selector\'s tags map keys to values, e.g. {"Env": "staging"}.')
    return dict(raw)


def carries(tags: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(tags.get(k) == v for k, v in wanted.items())


def missing(kind: str, names: list[str], found: set[str], tags: Mapping[str, str], region: str) -> None:
    """Refuse when a target the user named was not found."""
    unknown = [n for n in names if n not in found]
    if unknown:
        suffix = f" carrying {_tag_text(tags)}" if tags else ""
        raise ActionRequestInvalid(f"No {kind} {', '.join(unknown)}{suffix} in {region}.")


def _tag_text(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))
