# A target tagged as production needs two approvals and a change ticket. `require` names what the run
# needs before it may be applied; it does not block the plan.
package gantry.ops.production

import rego.v1

require := require_for(input, data.config)

production_targets(doc, cfg) := {t.id |
	some a in doc.actions
	some t in a.targets
	is_production(object.get(t, "tags", {}), cfg)
}

is_production(tags, cfg) if {
	some key in cfg.production_tag_keys
	value := lower(object.get(tags, key, ""))
	some wanted in cfg.production_tag_values
	value == lower(wanted)
}

# A set (empty or one requirement), the shape rego-cpp evaluates reliably when another package calls it.
require_for(doc, cfg) := {r |
	ids := production_targets(doc, cfg)
	count(ids) > 0
	r := {
		"approvals": 2,
		"ticket": true,
		"targets": sort(ids),
		"why": concat("", [format_int(count(ids), 10), " target(s) are tagged as production"]),
	}
}
