package gantry.capacity_test

import data.gantry.capacity
import data.gantry.testing as t
import rego.v1

asg(desired, min) := t.rc("aws_autoscaling_group", "g", {"desired_capacity": desired, "min_size": min, "max_size": 50})

ng(desired) := t.rc("aws_eks_node_group", "n", {"scaling_config": [{"desired_size": desired, "min_size": 1, "max_size": 50}]})

test_within_limit_passes if {
	count(capacity.deny_for(t.plan([asg(10, 2), ng(10)]), {"max_desired_capacity": 10})) == 0
}

test_asg_desired_above_limit if {
	d := capacity.deny_for(t.plan([asg(11, 2)]), {"max_desired_capacity": 10})
	count(d) == 1
	some f in d
	contains(f.message, "desired_capacity 11 exceeds the maximum 10")
}

test_asg_min_size_above_limit if {
	count(capacity.deny_for(t.plan([asg(null, 12)]), {"max_desired_capacity": 10})) == 1
}

test_node_group_above_limit if {
	t.addresses(capacity.deny_for(t.plan([ng(12)]), {"max_desired_capacity": 10})) == {"aws_eks_node_group.n"}
}

test_per_env_limit if {
	cfg := {"env": "dev", "max_desired_capacity": {"dev": 3, "prod": 30}}
	count(capacity.deny_for(t.plan([asg(4, 1)]), cfg)) == 1
	count(capacity.deny_for(t.plan([asg(4, 1)]), object.union(cfg, {"env": "prod"}))) == 0
}

test_no_limit_configured if {
	count(capacity.deny_for(t.plan([asg(500, 1)]), {})) == 0
}
