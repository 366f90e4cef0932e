# Everything is created in the tenant's allowed regions: provider region, the config's region,
# and any region visible in resource ARNs or availability zones. No allow-list configured = no check.
package gantry.regions

import data.gantry.lib
import rego.v1

deny := deny_for(input, lib.config)

deny_for(plan, cfg) := ((providers(plan, cfg) | config_region(cfg)) | arns(plan, cfg)) | zones(plan, cfg)

allowed(cfg) := {r | some r in cfg.allowed_regions} if cfg.allowed_regions

violation(address, region, where, cfg) := lib.finding(
	"allowed_regions",
	address,
	concat("", [where, " is ", region, "; allowed regions: ", concat(", ", sort(allowed(cfg)))]),
	"high",
)

# Region from a provider block: a constant, or a root variable the plan resolved.
provider_region(plan, pc) := r if {
	r := pc.expressions.region.constant_value
} else := r if {
	some ref in pc.expressions.region.references
	startswith(ref, "var.")
	r := plan.variables[trim_prefix(ref, "var.")].value
}

providers(plan, cfg) := {f |
	allowed(cfg)
	pcs := object.get(plan, ["configuration", "provider_config"], {})
	some key
	pc := pcs[key]
	pc.name == "aws"
	region := provider_region(plan, pc)
	not region in allowed(cfg)
	f := violation(concat("", ["provider[", key, "]"]), region, concat("", ["provider ", key, " region"]), cfg)
}

config_region(cfg) := {f |
	allowed(cfg)
	region := cfg.region
	not region in allowed(cfg)
	f := violation("config", region, "the configuration's region", cfg)
}

arns(plan, cfg) := {f |
	allowed(cfg)
	some rc in lib.changed(plan)
	arn := lib.attr(rc, "arn", "")
	is_string(arn)
	startswith(arn, "arn:")
	region := split(arn, ":")[3]
	region != ""
	not region in allowed(cfg)
	f := violation(rc.address, region, concat("", [rc.address, " (ARN) region"]), cfg)
}

zones(plan, cfg) := {f |
	allowed(cfg)
	some rc in lib.changed(plan)
	az := lib.attr(rc, "availability_zone", "")
	is_string(az)
	az != ""
	not zone_allowed(az, cfg)
	f := violation(rc.address, az, concat("", [rc.address, " availability zone"]), cfg)
}

zone_allowed(az, cfg) if {
	some r in allowed(cfg)
	startswith(az, r)
}
