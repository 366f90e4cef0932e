# Instance families and sizes stay within the caps for the config's environment
# (data.config.instance_caps[env] or ["default"]: families, max_size, optional db_families).
package gantry.instance_types

import data.gantry.lib
import rego.v1

deny := deny_for(input, lib.config)

# EKS managed node groups default to t3.medium when instance_types is not set.
eks_default := ["t3.medium"]

# (resource, type, is_db) for every instance type a changed resource asks for.
requested(plan) := {[rc.address, t, false] |
	some rc in lib.changed(plan)
	rc.type in {"aws_instance", "aws_launch_template"}
	t := lib.attr(rc, "instance_type", "")
	t != ""
} | {[rc.address, t, true] |
	some rc in lib.changed(plan)
	rc.type in {"aws_db_instance", "aws_rds_cluster_instance"}
	t := lib.attr(rc, "instance_class", "")
	t != ""
} | {[rc.address, t, false] |
	some rc in lib.changed(plan)
	rc.type == "aws_eks_node_group"
	some t in lib.attr(rc, "instance_types", eks_default)
} | {[rc.address, o.instance_type, false] |
	some rc in lib.changed(plan)
	rc.type == "aws_autoscaling_group"
	some p in lib.attr(rc, "mixed_instances_policy", [])
	some lt in p.launch_template
	some o in object.get(lt, "override", [])
	is_string(o.instance_type)
}

deny_for(plan, cfg) := {f |
	caps := lib.env_setting(cfg, "instance_caps")
	some req in requested(plan)
	address := req[0]
	some msg in problems(req[1], req[2], caps)
	f := lib.finding("instance_type_caps", address, concat("", [address, ": ", msg]), "high")
}

# "db.r5.large" -> ["r5", "large"]; "t3.medium" -> ["t3", "medium"].
parts(t) := split(trim_prefix(t, "db."), ".")

families(caps, true) := object.get(caps, "db_families", object.get(caps, "families", []))

families(caps, false) := object.get(caps, "families", [])

problems(t, is_db, caps) := {msg |
	p := parts(t)
	count(p) == 2
	fams := families(caps, is_db)
	not p[0] in fams
	msg := concat("", [t, " is not in the allowed families (", concat(", ", sort(fams)), ")"])
} | {msg |
	p := parts(t)
	count(p) == 2
	cap := caps.max_size
	not within(p[1], cap)
	msg := concat("", [t, " is larger than the size cap ", cap])
} | {msg |
	count(parts(t)) != 2
	msg := concat("", [t, " is not a recognised instance type"])
}

within(size, cap) if lib.rank(size) <= lib.rank(cap)
