# Shared helpers for the Gantry plan policies.
#
# rego-cpp (regopy 1.5) quirks these policies work around:
# - `with input as` fails on rules that call built-ins, so every policy exposes pure functions
#   `deny_for(plan, cfg)` / `warn_for(plan, cfg)`; `deny`/`warn` only bind them to `input` and
#   `data.config`, and the Rego tests call the functions directly.
# - sprintf quotes strings computed by other built-ins, so messages are built with concat.
# - `some k, v in` inside a comprehension is misparsed; index with `some i` instead.
package gantry.lib

import rego.v1

# Resource changes that add or alter infrastructure (replace = ["delete","create"] counts too).
changed(plan) := [rc |
	some rc in object.get(plan, "resource_changes", [])
	object.get(rc, "mode", "managed") == "managed"
	some action in rc.change.actions
	action in {"create", "update"}
]

after(rc) := a if {
	a := rc.change.after
	is_object(a)
} else := {}

after_unknown(rc) := u if {
	u := rc.change.after_unknown
	is_object(u)
} else := {}

# Known attribute value, or `default_value` when unset/null/unknown.
attr(rc, key, default_value) := v if {
	v := after(rc)[key]
	v != null
} else := default_value

# First element of a nested block list (Terraform renders blocks as lists).
block(rc, key) := b if {
	some b in attr(rc, key, [])
} else := {}

# Tags Terraform will put on the resource: provider default_tags are merged into tags_all.
tags(rc) := t if {
	t := after(rc).tags_all
	is_object(t)
} else := t if {
	t := after(rc).tags
	is_object(t)
} else := asg_tags(rc)

# aws_autoscaling_group carries tags as `tag` blocks, not a map.
asg_tags(rc) := {t.key: t.value | some t in attr(rc, "tag", [])}

taggable(rc) if "tags_all" in object.keys(after(rc))

taggable(rc) if "tags" in object.keys(after(rc))

taggable(rc) if after_unknown(rc).tags_all

taggable(rc) if rc.type == "aws_autoscaling_group"

override_key(cfg) := object.get(cfg, "override_tag_key", "gantry:allow-public")

# The override reason (non-empty) if the resource carries the override tag.
override_reason(rc, cfg) := r if {
	r := tags(rc)[override_key(cfg)]
	is_string(r)
	trim_space(r) != ""
}

finding(rule, address, message, severity) := {
	"rule": rule,
	"address": address,
	"message": message,
	"severity": severity,
}

# "module.web[0].module.sg" -> ["web", "sg"]; root module -> [].
module_names(module_address) := [regex.replace(parts[i], `\[.*\]$`, "") |
	parts := split(module_address, ".")
	some i
	parts[i]
	i % 2 == 1
]

# The configuration block of the module that declares `rc` (for expression references).
module_config(plan, rc) := m if {
	names := module_names(object.get(rc, "module_address", ""))
	path := array.concat(["root_module"], [seg | some n in names; some seg in ["module_calls", n, "module"]])
	m := object.get(object.get(plan, "configuration", {}), path, {})
}

# References of an attribute expression of `rc` as written in its module (e.g. "aws_s3_bucket.this.id").
references(plan, rc, key) := refs if {
	some res in object.get(module_config(plan, rc), "resources", [])
	res.type == rc.type
	res.name == rc.name
	refs := object.get(res, ["expressions", key, "references"], [])
} else := []

same_module(a, b) if object.get(a, "module_address", "") == object.get(b, "module_address", "")

# True if `rc` refers to `target` in the configuration expression `key` (same module only);
# "aws_s3_bucket.this", "aws_s3_bucket.this.id" and "aws_s3_bucket.this[0].id" all refer to it.
refers_to(plan, rc, key, target) if {
	same_module(rc, target)
	some ref in references(plan, rc, key)
	some sep in [".", "["]
	startswith(concat("", [ref, "."]), concat("", [target.type, ".", target.name, sep]))
}

# Instance sizes ordered so a cap can be compared: nano < ... < xlarge < 2xlarge < ... < metal.
size_rank := {"nano": 1, "micro": 2, "small": 3, "medium": 4, "large": 5, "xlarge": 6}

rank(size) := size_rank[size]

rank(size) := r if {
	not size_rank[size]
	endswith(size, "xlarge")
	n := to_number(trim_suffix(size, "xlarge"))
	r := 6 + n
}

rank(size) := 1000 if startswith(size, "metal")

env_setting(cfg, key) := v if {
	v := cfg[key][object.get(cfg, "env", "")]
} else := v if {
	v := cfg[key]["default"]
}

# The tenant/account/config document the gate mounts at data.config.
default config := {}

config := data.config

# Every managed resource that exists after the plan (no-op included), for linking sub-resources.
present(plan) := [rc |
	some rc in object.get(plan, "resource_changes", [])
	object.get(rc, "mode", "managed") == "managed"
	is_object(rc.change.after)
]

# `rc.<key>` points at `target`: equal known ids/names, or a configuration reference in the same module.
linked(plan, rc, key, target) if {
	v := attr(rc, key, "")
	v != ""
	some k in ["id", "bucket", "arn", "name"]
	attr(target, k, "") == v
}

linked(plan, rc, key, target) if refers_to(plan, rc, key, target)

# An attribute is set when its value is known and non-empty, or the configuration assigns it
# (values that reference resources still being created are unknown at plan time).
configured(plan, rc, key) if {
	v := attr(rc, key, "")
	v != ""
	v != false
}

configured(plan, rc, key) if {
	some res in object.get(module_config(plan, rc), "resources", [])
	res.type == rc.type
	res.name == rc.name
	expr := res.expressions[key]
	expr != null
}

# Provider default_tags written as constants, merged under the resource's own tags when tags_all is
# unknown at plan time.
default_tags(plan) := t if {
	some pc in object.get(plan, ["configuration", "provider_config"], {})
	pc.name == "aws"
	some dt in pc.expressions.default_tags
	t := dt.tags.constant_value
	is_object(t)
} else := {}

effective_tags(plan, rc) := t if {
	t := after(rc).tags_all
	is_object(t)
} else := object.union(default_tags(plan), tags(rc))
