package gantry.instance_types_test

import data.gantry.instance_types
import data.gantry.testing as t
import rego.v1

cfg := {
	"env": "dev",
	"instance_caps": {
		"dev": {"families": ["t3", "t4g"], "max_size": "large", "db_families": ["t4g"]},
		"default": {"families": ["m6i"], "max_size": "4xlarge"},
	},
}

test_allowed_instance_passes if {
	p := t.plan([t.rc("aws_instance", "a", {"instance_type": "t3.large"})])
	count(instance_types.deny_for(p, cfg)) == 0
}

test_family_not_allowed if {
	d := instance_types.deny_for(t.plan([t.rc("aws_instance", "a", {"instance_type": "m5.large"})]), cfg)
	count(d) == 1
	some f in d
	contains(f.message, "not in the allowed families")
}

test_size_above_cap if {
	d := instance_types.deny_for(t.plan([t.rc("aws_launch_template", "lt", {"instance_type": "t3.xlarge"})]), cfg)
	count(d) == 1
	some f in d
	contains(f.message, "larger than the size cap large")
}

# Numbered sizes rank numerically (2xlarge < 12xlarge), not as strings.
test_numbered_sizes_rank_numerically if {
	prod := {"env": "prod", "instance_caps": cfg.instance_caps}
	count(instance_types.deny_for(t.plan([t.rc("aws_instance", "a", {"instance_type": "m6i.2xlarge"})]), prod)) == 0
	count(instance_types.deny_for(t.plan([t.rc("aws_instance", "a", {"instance_type": "m6i.12xlarge"})]), prod)) == 1
	count(instance_types.deny_for(t.plan([t.rc("aws_instance", "a", {"instance_type": "m6i.metal"})]), prod)) == 1
}

test_rds_uses_db_families if {
	ok := t.rc("aws_db_instance", "ok", {"instance_class": "db.t4g.medium"})
	bad := t.rc("aws_db_instance", "bad", {"instance_class": "db.t3.medium"})
	t.addresses(instance_types.deny_for(t.plan([ok, bad]), cfg)) == {"aws_db_instance.bad"}
}

test_eks_node_group_types_and_default if {
	ok := t.rc("aws_eks_node_group", "ok", {"instance_types": ["t3.medium", "t4g.large"]})
	bad := t.rc("aws_eks_node_group", "bad", {"instance_types": ["t3.medium", "c5.large"]})
	dflt := t.rc("aws_eks_node_group", "dflt", {"instance_types": null})
	only_m6i := {"env": "qa", "instance_caps": cfg.instance_caps}
	t.addresses(instance_types.deny_for(t.plan([ok, bad, dflt]), cfg)) == {"aws_eks_node_group.bad"}
	t.addresses(instance_types.deny_for(t.plan([dflt]), only_m6i)) == {"aws_eks_node_group.dflt"}
}

test_asg_mixed_instances_overrides if {
	g := t.rc("aws_autoscaling_group", "g", {"mixed_instances_policy": [{"launch_template": [{"override": [
		{"instance_type": "t3.large"},
		{"instance_type": "r5.large"},
	]}]}]})
	count(instance_types.deny_for(t.plan([g]), cfg)) == 1
}

test_unrecognised_type_denied if {
	count(instance_types.deny_for(t.plan([t.rc("aws_instance", "a", {"instance_type": "weird"})]), cfg)) == 1
}

test_no_caps_for_env_no_check if {
	p := t.plan([t.rc("aws_instance", "a", {"instance_type": "x1e.32xlarge"})])
	count(instance_types.deny_for(p, {"env": "dev"})) == 0
}
