"""The catalogue: every operation the `aws` engine can carry out, one module per service.

Adding an operation adds an entry to its service module's `ACTIONS`; the engine never changes.
"""

from __future__ import annotations

from . import autoscaling, ec2, ecs, rds, secretsmanager, ssm, tagging
from .base import ActionRequestInvalid, ActionSpec

_CATALOGUE: dict[str, ActionSpec] = {}
_BY_VERB: dict[tuple[str, str], ActionSpec] = {}


def register(spec: ActionSpec) -> ActionSpec:
    if spec.name in _CATALOGUE:
        raise ValueError(f"{spec.name} is registered twice")
    key = (spec.target_type, spec.verb)
    if key in _BY_VERB:
        raise ValueError(f"{spec.target_type} + {spec.verb} already maps to {_BY_VERB[key].name}")
    _CATALOGUE[spec.name] = spec
    _BY_VERB[key] = spec
    return spec


for _module in (ec2, ecs, autoscaling, rds, secretsmanager, ssm, tagging):
    for _spec in _module.ACTIONS:
        register(_spec)


def get(name: str) -> ActionSpec:
    try:
        return _CATALOGUE[name]
    except KeyError:
        raise ActionRequestInvalid(
            f"Unknown action {name!r}; the catalogue has {', '.join(sorted(_CATALOGUE))}."
        ) from None


def all_actions() -> list[ActionSpec]:
    return [_CATALOGUE[name] for name in sorted(_CATALOGUE)]


def find(target_type: str, verb: str) -> ActionSpec | None:
    """The entry for e.g. ("ec2_instance", "stop"), or None when the catalogue has none."""
    return _BY_VERB.get((target_type, verb))
