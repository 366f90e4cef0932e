# Every taggable resource created or updated carries the tenant's mandatory tag keys (non-empty).
package gantry.tags

import data.gantry.lib
import rego.v1

deny := deny_for(input, lib.config)

deny_for(plan, cfg) := {f |
	some rc in lib.changed(plan)
	lib.taggable(rc)
	missing := missing_keys(lib.effective_tags(plan, rc), object.get(cfg, "mandatory_tags", []))
	count(missing) > 0
	msg := concat("", [rc.address, " is missing mandatory tags: ", concat(", ", sort(missing))])
	f := lib.finding("mandatory_tags", rc.address, msg, "medium")
}

missing_keys(tags, required) := [key |
	some key in required
	not has_value(tags, key)
]

has_value(tags, key) if {
	v := tags[key]
	is_string(v)
	trim_space(v) != ""
}
