# Builders shared by the policy tests (loaded only with the tests).
package gantry.testing

import rego.v1

rc(type, name, after) := {
	"address": concat(".", [type, name]),
	"mode": "managed",
	"type": type,
	"name": name,
	"change": {"actions": ["create"], "before": null, "after": after, "after_unknown": {}},
}

with_actions(r, actions) := object.union(r, {"change": object.union(r.change, {"actions": actions})})

with_unknown(r, unknown) := object.union(r, {"change": object.union(r.change, {"after_unknown": unknown})})

plan(resources) := {"format_version": "1.2", "resource_changes": resources}

# A root-module configuration so references between resources can be resolved.
plan_with_config(resources, config_resources) := {
	"format_version": "1.2",
	"resource_changes": resources,
	"configuration": {"root_module": {"resources": config_resources}},
}

tags := {"Owner": "team-web", "CostCenter": "cc-1", "Environment": "dev"}

rules(findings) := {f.rule | some f in findings}

addresses(findings) := {f.address | some f in findings}
