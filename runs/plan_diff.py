"""A reviewable diff of a Terraform plan, built from the redacted plan JSON (`terraform show -json`).

Pure functions, no I/O: `plan_diff(plan_json)` groups resource changes into create / update / replace /
delete and lists each changed attribute as before → after. Values the provider marks sensitive
(`before_sensitive` / `after_sensitive`) and values Gantry's redactor already masked (`iac.redaction.MASK`)
are never shown; attributes Terraform only learns while applying (`after_unknown`) say so instead of a
value. The input is expected to be redacted already (invariant 9); masking here is the second line.
JSON documents held in string attributes (IAM policies, container definitions) and multi-line strings
also get a line-by-line diff, because one escaped JSON string per side is unreadable.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from iac.redaction import MASK

GROUPS: tuple[str, ...] = ("create", "update", "replace", "delete")
SENSITIVE_TEXT = "(sensitive value)"
REDACTED_TEXT = "(redacted)"
UNKNOWN_TEXT = "(known after apply)"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ABSENT = object()  # a path that does not exist on that side (unlike a JSON null)

# Terraform's action_reason values, as a reviewer would say them.
REASONS: dict[str, str] = {
    "replace_because_cannot_update": "an attribute that cannot be updated in place changed",
    "replace_because_tainted": "the resource is tainted",
    "replace_by_request": "replacement was requested",
    "replace_by_triggers": "a replace_triggered_by reference changed",
    "delete_because_no_resource_config": "it was removed from the configuration",
    "delete_because_no_module": "its module was removed",
    "delete_because_wrong_repetition": "count/for_each changed shape",
    "delete_because_count_index": "its count index is gone",
    "delete_because_each_key": "its for_each key is gone",
    "read_because_config_unknown": "the configuration is known only after apply",
}


@dataclass(frozen=True)
class AttributeChange:
    path: str
    before: str | None  # display text; None: the attribute is absent on that side
    after: str | None
    masked: bool = False  # either side hidden (sensitive or redacted)
    unknown: bool = False  # the after value is known only after apply
    forces_replacement: bool = False
    # (op, text) per line for JSON documents and multi-line strings; op is "+", "-" or " ".
    lines: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ResourceDiff:
    address: str
    type: str
    name: str
    action: str  # one of GROUPS
    attributes: tuple[AttributeChange, ...] = ()
    reason: str = ""  # Terraform's action_reason, e.g. replace_because_cannot_update

    @property
    def reason_text(self) -> str:
        return REASONS.get(self.reason, self.reason.replace("_", " "))


@dataclass
class PlanDiff:
    groups: dict[str, list[ResourceDiff]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    outputs: list[AttributeChange] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {group: len(items) for group, items in self.groups.items()}

    @property
    def is_empty(self) -> bool:
        return not any(self.groups.values()) and not self.outputs

    def nonempty_groups(self) -> list[tuple[str, list[ResourceDiff]]]:
        return [(group, items) for group, items in self.groups.items() if items]


def action_of(actions: list[str] | tuple[str, ...]) -> str | None:
    """Terraform's action list as one of GROUPS; None for no-op, read and forget."""
    acts = list(actions or [])
    if set(acts) == {"delete", "create"}:
        return "replace"
    if acts == ["create"]:
        return "create"
    if acts == ["update"]:
        return "update"
    if acts == ["delete"]:
        return "delete"
    return None


def _key_path(prefix: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{prefix}.{key}" if prefix else key
    return f"{prefix}[{json.dumps(key)}]"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf path → value. Empty containers are leaves (so `tags = {}` still shows)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, _key_path(prefix, str(key))))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def marked_paths(marker: Any, prefix: str = "") -> set[str]:
    """Paths a Terraform marker structure (`after_unknown`, `*_sensitive`) flags with `true`."""
    if marker is True:
        return {prefix}
    if isinstance(marker, dict):
        found: set[str] = set()
        for key, item in marker.items():
            found |= marked_paths(item, _key_path(prefix, str(key)))
        return found
    if isinstance(marker, list):
        found = set()
        for index, item in enumerate(marker):
            found |= marked_paths(item, f"{prefix}[{index}]")
        return found
    return set()


def _covered(path: str, marks: set[str]) -> bool:
    """True when `path` or one of its ancestors is marked ("" marks the whole value)."""
    if path in marks or "" in marks:
        return True
    return any(path.startswith(mark + ".") or path.startswith(mark + "[") for mark in marks)


def _contains_mask(value: Any) -> bool:
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, dict):
        return any(_contains_mask(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_mask(v) for v in value)
    return False


def display(value: Any) -> str:
    """A value as the plan shows it: strings quoted, the rest as JSON."""
    if isinstance(value, dict):
        return "{}" if not value else json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return "[]" if not value else json.dumps(value)
    return json.dumps(value, ensure_ascii=False)


def _side(value: Any, sensitive: bool) -> tuple[str | None, bool]:
    if value is _ABSENT:
        return None, False
    if sensitive:
        return SENSITIVE_TEXT, True
    if _contains_mask(value):
        return REDACTED_TEXT, True
    return display(value), False


def _replace_paths(change: dict[str, Any]) -> set[str]:
    paths = set()
    for steps in change.get("replace_paths") or []:
        path = ""
        for step in steps if isinstance(steps, list) else [steps]:
            path = f"{path}[{step}]" if isinstance(step, int) else _key_path(path, str(step))
        paths.add(path)
    return paths


def _document_lines(value: Any) -> list[str] | None:
    """A string value as lines worth diffing: a JSON object/array pretty-printed, or a multi-line text."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[:1] in "{[":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list) and parsed:
            return json.dumps(parsed, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    if "\n" in text:
        return value.splitlines()
    return None


def line_diff(old: Any, new: Any) -> tuple[tuple[str, str], ...]:
    """Line-by-line diff of two visible values when either is a document (see _document_lines); absent
    or non-document sides count as no lines. Empty when neither side is a document."""
    old_lines = _document_lines(old) if old is not _ABSENT else None
    new_lines = _document_lines(new) if new is not _ABSENT else None
    if old_lines is None and new_lines is None:
        return ()
    old_lines, new_lines = old_lines or [], new_lines or []
    if not old_lines or not new_lines:
        op = "+" if new_lines else "-"
        return tuple((op, line) for line in (new_lines or old_lines))
    rows: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend((" ", line) for line in old_lines[i1:i2])
            continue
        rows.extend(("-", line) for line in old_lines[i1:i2])
        rows.extend(("+", line) for line in new_lines[j1:j2])
    return tuple(rows)


def attribute_changes(change: dict[str, Any], action: str) -> list[AttributeChange]:
    """The attributes of one change worth reading: every set value for create/delete, only what differs
    (or becomes unknown) for update/replace."""
    before = change.get("before")
    after = change.get("after")
    before_leaves = flatten(before) if isinstance(before, dict) else {}
    after_leaves = flatten(after) if isinstance(after, dict) else {}
    unknown = marked_paths(change.get("after_unknown"))
    before_secret = marked_paths(change.get("before_sensitive"))
    after_secret = marked_paths(change.get("after_sensitive"))
    forcing = _replace_paths(change)

    paths = set(before_leaves) | set(after_leaves) | {p for p in unknown if p}
    rows: list[AttributeChange] = []
    for path in sorted(paths):
        if not path:
            continue
        old = before_leaves.get(path, _ABSENT)
        new = after_leaves.get(path, _ABSENT)
        is_unknown = _covered(path, unknown) and action != "delete"
        secret = _covered(path, before_secret) or _covered(path, after_secret)
        if action == "create":
            if is_unknown:
                old = _ABSENT
            elif new is None or new is _ABSENT:
                continue  # unset attributes are noise on a create
            old = _ABSENT
        elif action == "delete":
            if old is None or old is _ABSENT:
                continue
            new = _ABSENT
        elif not is_unknown and old == new and not _contains_mask(old) and not secret:
            # Equal and visible: unchanged. Hidden values are equal after masking whatever they were,
            # so they are listed (masked) rather than silently dropped.
            continue
        before_text, before_masked = _side(old, _covered(path, before_secret))
        if is_unknown:
            after_text, after_masked = UNKNOWN_TEXT, False
        else:
            after_text, after_masked = _side(new, _covered(path, after_secret))
        masked = before_masked or after_masked
        rows.append(
            AttributeChange(
                path=path,
                before=before_text,
                after=after_text,
                masked=masked,
                unknown=is_unknown,
                forces_replacement=_covered(path, forcing) if forcing else False,
                # Never diff a hidden side (its lines would be the secret) nor an unknown one.
                lines=() if masked or is_unknown else line_diff(old, new),
            )
        )
    return rows


def resource_diff(resource_change: dict[str, Any]) -> ResourceDiff | None:
    change = resource_change.get("change") or {}
    action = action_of(change.get("actions") or [])
    if action is None:
        return None
    return ResourceDiff(
        address=str(resource_change.get("address", "")),
        type=str(resource_change.get("type", "")),
        name=str(resource_change.get("name", "")),
        action=action,
        attributes=tuple(attribute_changes(change, action)),
        reason=str(resource_change.get("action_reason") or ""),
    )


def output_diffs(output_changes: dict[str, Any]) -> list[AttributeChange]:
    rows = []
    for name, change in sorted((output_changes or {}).items()):
        if not isinstance(change, dict):
            continue
        action = action_of(change.get("actions") or [])
        if action is None:
            continue
        old = change.get("before", _ABSENT) if action != "create" else _ABSENT
        new = change.get("after", _ABSENT) if action != "delete" else _ABSENT
        unknown = change.get("after_unknown") is True
        before_text, before_masked = _side(old, bool(change.get("before_sensitive")))
        if unknown:
            after_text, after_masked = UNKNOWN_TEXT, False
        else:
            after_text, after_masked = _side(new, bool(change.get("after_sensitive")))
        rows.append(
            AttributeChange(
                path=name,
                before=before_text,
                after=after_text,
                masked=before_masked or after_masked,
                unknown=unknown,
            )
        )
    return rows


def plan_diff(plan_json: dict[str, Any] | None) -> PlanDiff:
    """The whole plan, grouped; resources in plan order within each group."""
    diff = PlanDiff()
    if not isinstance(plan_json, dict):
        return diff
    for resource_change in plan_json.get("resource_changes") or []:
        if not isinstance(resource_change, dict):
            continue
        item = resource_diff(resource_change)
        if item is not None:
            diff.groups[item.action].append(item)
    diff.outputs = output_diffs(plan_json.get("output_changes") or {})
    return diff


def output_values(outputs: dict[str, Any] | None) -> list[tuple[str, str, bool]]:
    """(name, display text, hidden) for a run's stored outputs, sensitive ones masked.

    Accepts `terraform output -json`'s shape ({name: {"value", "sensitive", "type"}}) and plain
    {name: value}."""
    rows = []
    for name, item in sorted((outputs or {}).items()):
        if isinstance(item, dict) and "value" in item:
            value, sensitive = item.get("value"), bool(item.get("sensitive"))
        else:
            value, sensitive = item, False
        text, hidden = _side(value, sensitive)
        rows.append((name, text or "", hidden))
    return rows
