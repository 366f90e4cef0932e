# An action plan touches at most `max_targets` resources (a tenant setting, default 50): a larger blast
# radius is split into several reviewed runs.
package gantry.ops.targets

import rego.v1

deny := deny_for(input, data.config)

target_count(doc) := count([t | some a in doc.actions; some t in a.targets])

deny_for(doc, cfg) := {f |
	n := target_count(doc)
	n > cfg.max_targets
	f := {
		"rule": "max_targets",
		"address": doc.action,
		"message": concat("", [
			"the plan touches ", format_int(n, 10), " targets; at most ",
			format_int(cfg.max_targets, 10), " are allowed in one run",
		]),
		"severity": "high",
	}
}
