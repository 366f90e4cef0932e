# Operations only on services the account allows (its allow-list; none configured = every service).
package gantry.ops.services

import rego.v1

deny := deny_for(input, data.config)

deny_for(doc, cfg) := {f |
	some a in doc.actions
	count(cfg.allowed_services) > 0
	not a.service in {s | some s in cfg.allowed_services}
	f := {
		"rule": "allowed_services",
		"address": a.name,
		"message": concat("", [
			a.service, " is not an allowed service for this account (allowed: ",
			concat(", ", sort(cfg.allowed_services)), ")",
		]),
		"severity": "high",
	}
}
