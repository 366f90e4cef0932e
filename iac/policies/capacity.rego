# Auto Scaling groups and EKS node groups stay at or below the configured desired capacity
# (data.config.max_desired_capacity: a number, or a map env -> number with an optional "default").
package gantry.capacity

import data.gantry.lib
import rego.v1

deny := deny_for(input, lib.config)

limit(cfg) := n if {
	n := cfg.max_desired_capacity
	is_number(n)
} else := n if {
	n := lib.env_setting(cfg, "max_desired_capacity")
	is_number(n)
}

# (address, attribute, value) for each requested size.
sizes(plan) := {[rc.address, key, n] |
	some rc in lib.changed(plan)
	rc.type == "aws_autoscaling_group"
	some key in ["desired_capacity", "min_size"]
	n := lib.attr(rc, key, 0)
	is_number(n)
} | {[rc.address, concat("", ["scaling_config.", key]), n] |
	some rc in lib.changed(plan)
	rc.type == "aws_eks_node_group"
	some sc in lib.attr(rc, "scaling_config", [])
	some key in ["desired_size", "min_size"]
	n := object.get(sc, key, 0)
	is_number(n)
}

deny_for(plan, cfg) := {f |
	cap := limit(cfg)
	some size in sizes(plan)
	[address, key, n] := size
	n > cap
	msg := concat("", [address, ": ", key, " ", format_int(n, 10), " exceeds the maximum ", format_int(cap, 10)])
	f := lib.finding("max_desired_capacity", address, msg, "high")
}
