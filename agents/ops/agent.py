"""The operations agent: an `operate` intent → an action request for the `aws` engine.

The request names a catalogue action (`agents.aws.actions`), its parameters and a selector of what the
user named (ids, names, tag filters, cluster/service). Nothing is resolved or touched here: the engine
resolves the targets at plan time with read-only calls, and the run goes through review like any other.
The agent refuses what it cannot act on safely: no target named and no filter (never "everything"),
an operation the catalogue does not have, text that carries code or instructions.
"""

from __future__ import annotations

import re
from typing import Any

from agents.aws import actions as catalogue
from agents.domains import AgentAnswer, AgentContext
from agents.intent import Action, Domain, Intent, Resource

# What a request says → the catalogue's verb.
VERBS = {"restart": "reboot", "reboot": "reboot", "start": "start", "stop": "stop", "scale": "scale",
         "snapshot": "snapshot", "rotate": "rotate", "run_command": "run", "tag": "tag",
         "untag": "untag"}  # fmt: skip
# Intent resource types the catalogue names otherwise; tagging acts on any resource by its ARN.
TARGET_TYPES = {"asg": "autoscaling_group"}
ANY_RESOURCE_VERBS = {"tag", "untag"}
_ID_RE = re.compile(r"^(arn:|i-[0-9a-f]{8,17}$)")
_UNSAFE_FLAGS = ("embedded_code", "instruction")


def action_params(spec, intent: Intent, resource: Resource) -> dict[str, Any]:
    """The action's arguments the intent carries, by the names the action's schema uses."""
    fields = spec.args_model.model_fields
    params: dict[str, Any] = {}
    if spec.count_field and resource.count is not None:
        params[spec.count_field] = resource.count
    command = getattr(intent.params, "command", None)
    if command and "command" in fields:
        params["command"] = command
    if intent.tags and "tags" in fields:
        params["tags"] = dict(intent.tags)
    tag_keys = getattr(intent.params, "tag_keys", None)
    if tag_keys and "tag_keys" in fields:
        params["tag_keys"] = list(tag_keys)
    return params


def selector_for(
    intent: Intent, resource: Resource, context: AgentContext
) -> tuple[dict[str, Any], list[str]]:
    selector: dict[str, Any] = {}
    notes: list[str] = []
    ids = [name for name in resource.names if _ID_RE.match(name)]
    names = [name for name in resource.names if name not in ids]
    if ids:
        selector["ids"] = ids
    if names:
        selector["names"] = names
    cluster = resource.attributes.get("cluster")
    if cluster:
        selector["cluster"] = cluster
    if intent.filters:
        selector["tags"] = dict(intent.filters)
    elif intent.environment is not None and not resource.names:
        selector["tags"] = {"Env": intent.environment.value}
        notes.append(f"Targets are the resources tagged Env={intent.environment.value}.")
    region = intent.region or (context.default_region)
    if region:
        selector["region"] = region
    return selector, notes


class OpsAgent:
    name = "ops"
    domains = frozenset({Domain.OPS})
    actions = frozenset({Action.OPERATE})

    def handle(self, intent: Intent, context: AgentContext) -> AgentAnswer:
        def refuse(message: str) -> AgentAnswer:
            return AgentAnswer(
                agent=self.name, status="refused", intent=intent, message=message, refusals=[message]
            )

        flags = [flag for flag in getattr(intent, "flags", []) or [] if flag in _UNSAFE_FLAGS]
        if flags:
            return refuse(
                "The request carries code or instructions to the system; operations take plain targets "
                "and parameters only. Please rephrase it."
            )
        verb = VERBS.get((intent.operation or "").lower())
        if verb is None:
            known = ", ".join(sorted(set(VERBS)))
            return refuse(
                f"'{intent.operation or 'this'}' is not an operation Gantry can carry out ({known})."
            )
        resources = intent.targets or []
        if len(resources) != 1:
            return refuse(
                "Name one kind of resource to act on (for example EC2 instances or one ECS service)."
            )
        resource = resources[0]
        target_type = "resource" if verb in ANY_RESOURCE_VERBS else TARGET_TYPES.get(resource.type.value)
        spec = catalogue.find(target_type or resource.type.value, verb)
        if spec is None:
            kind = resource.type.value.replace("_", " ")
            return refuse(
                f"Gantry cannot {verb.replace('_', ' ')} a {kind}; the catalogue has no such action."
            )
        selector, notes = selector_for(intent, resource, context)
        if not any(key in selector for key in ("ids", "names", "tags")):
            return refuse(
                f"Say which {resource.type.value.replace('_', ' ')}s to act on: their ids or names, or a "
                "tag filter such as 'tagged Env=staging'. Gantry never acts on every resource by default."
            )
        source = {"action": spec.name, "params": action_params(spec, intent, resource), "selector": selector}
        return AgentAnswer(
            agent=self.name,
            status="ready",
            intent=intent,
            message=f"{spec.label}: the targets are resolved and checked when the run plans.",
            notes=notes,
            run_source={"engine": "aws", "source": source},
        )
