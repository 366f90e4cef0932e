"""A plan digest sized for a model's context, built from the run's redacted plan JSON artifact.

Per resource: its address, the action (create, update, delete, replace, read) and a few attributes —
for an update the ones that change (before → after), for a create the notable ones it sets. Values are
shortened, values Terraform only knows after apply say so, and everything comes from the redacted
artifact (sensitive values were masked before it was stored). The plan is redacted once more before it is
digested, so an artifact stored before a redaction rule existed cannot hand a secret to the model either.
"""

from __future__ import annotations

import json
from typing import Any

from iac.redaction import MASK, default_redactor
from runs import artifacts
from runs.models import ArtifactKind, Run

from .registry import ToolFailure

MAX_VALUE_CHARS = 80
UNKNOWN = "(known after apply)"
# Attributes worth showing first for a create, when present.
NOTABLE = (
    "name",
    "bucket",
    "instance_type",
    "instance_class",
    "engine",
    "engine_version",
    "cidr_block",
    "ami",
    "desired_count",
    "min_size",
    "max_size",
    "port",
    "protocol",
    "allocated_storage",
    "multi_az",
    "publicly_accessible",
    "storage_encrypted",
    "versioning",
)
# Provider bookkeeping that says nothing to a reviewer.
NOISE = frozenset({"id", "arn", "tags_all", "timeouts", "region"})


def action_of(actions: list[str]) -> str:
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if actions in (["no-op"], []):
        return "no-op"
    return actions[0]


def short(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 1] + "…"
    if isinstance(value, dict):
        if not value:
            return {}
        text = json.dumps(value, sort_keys=True, default=str)
        return short(text) if len(text) <= MAX_VALUE_CHARS else f"{{{len(value)} keys}}"
    if isinstance(value, list):
        if not value:
            return []
        text = json.dumps(value, default=str)
        return short(text) if len(text) <= MAX_VALUE_CHARS else f"[{len(value)} items]"
    return short(str(value))


def _unknown(change: dict, key: str) -> bool:
    unknown = change.get("after_unknown")
    return isinstance(unknown, dict) and bool(unknown.get(key))


def _attributes(change: dict, action: str, limit: int) -> dict[str, Any]:
    if limit <= 0:
        return {}
    before = change.get("before") if isinstance(change.get("before"), dict) else {}
    after = change.get("after") if isinstance(change.get("after"), dict) else {}
    out: dict[str, Any] = {}
    if action in ("update", "replace"):
        replace_paths = {str(p[0]) for p in change.get("replace_paths") or [] if p}
        keys = sorted(set(before) | set(after), key=lambda k: (k not in replace_paths, k))
        for key in keys:
            if key in NOISE or (before.get(key) == after.get(key) and not _unknown(change, key)):
                continue
            out[key] = {
                "before": short(before.get(key)),
                "after": UNKNOWN if _unknown(change, key) else short(after.get(key)),
                **({"forces_replacement": True} if key in replace_paths else {}),
            }
            if len(out) == limit:
                break
    elif action == "create":
        keys = [k for k in NOTABLE if k in after] + sorted(k for k in after if k not in NOTABLE)
        for key in keys:
            value = after.get(key)
            if key in NOISE or value in (None, "", [], {}):
                continue
            out[key] = short(value)
            if len(out) == limit:
                break
    return out


def plan_digest(run: Run, *, max_resources: int = 40, max_attributes: int = 6) -> dict[str, Any]:
    """The digest of `run`'s latest plan; ToolFailure(not_found) when it has none yet."""
    artifact = artifacts.latest(run, ArtifactKind.PLAN_JSON_REDACTED)
    if artifact is None:
        raise ToolFailure(
            f"Run #{run.pk} has no plan yet (status {run.status}); wait for it with `plan`.", code="not_found"
        )
    # Redacted again before anything is shortened: a cut could leave half a secret no rule recognises.
    plan = default_redactor.redact_json(json.loads(artifacts.artifact_read(artifact)))
    counts = {"create": 0, "update": 0, "delete": 0, "replace": 0, "read": 0}
    resources: list[dict[str, Any]] = []
    for rc in plan.get("resource_changes") or []:
        change = rc.get("change") or {}
        action = action_of(list(change.get("actions") or []))
        if action == "no-op":
            continue
        counts[action] = counts.get(action, 0) + 1
        if len(resources) < max_resources:
            entry: dict[str, Any] = {"address": rc.get("address"), "action": action, "type": rc.get("type")}
            attributes = _attributes(change, action, max_attributes)
            if attributes:
                entry["attributes"] = attributes
            resources.append(entry)
    changed = sum(counts.values())
    return {
        "plan_sha256": run.plan_sha256,
        "counts": counts,
        "resources": resources,
        "resources_shown": len(resources),
        "truncated": changed > len(resources),
        "outputs": sorted((plan.get("output_changes") or {}).keys())[:20],
        "sensitive_values_read_as": MASK,
    }
