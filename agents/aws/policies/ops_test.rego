package gantry.ops_test

import data.gantry.ops.production
import data.gantry.ops.services
import data.gantry.ops.targets
import rego.v1

cfg := {
	"max_targets": 2,
	"allowed_services": [],
	"production_tag_keys": ["Env", "Environment"],
	"production_tag_values": ["prod", "production"],
}

# rego-cpp misparses `some i, x in` inside a comprehension, so documents are written out.
doc(targets) := {"action": "ec2.stop_instances", "actions": [{
	"name": "ec2.stop_instances",
	"service": "ec2",
	"targets": targets,
}]}

t0(tags) := {"id": "i-0", "tags": tags}

t1(tags) := {"id": "i-1", "tags": tags}

t2(tags) := {"id": "i-2", "tags": tags}

test_within_the_target_limit_passes if {
	count(targets.deny_for(doc([t0({}), t1({})]), cfg)) == 0
}

test_over_the_target_limit_is_denied if {
	d := targets.deny_for(doc([t0({}), t1({}), t2({})]), cfg)
	count(d) == 1
	some f in d
	f.rule == "max_targets"
}

test_no_service_list_allows_everything if {
	count(services.deny_for(doc([t0({})]), cfg)) == 0
}

test_a_service_outside_the_list_is_denied if {
	d := services.deny_for(doc([t0({})]), object.union(cfg, {"allowed_services": ["rds", "ecs"]}))
	count(d) == 1
}

test_a_listed_service_passes if {
	count(services.deny_for(doc([t0({})]), object.union(cfg, {"allowed_services": ["ec2"]}))) == 0
}

# The production requirement is tested from Python (agents/aws/tests/test_ops_gates.py): rego-cpp
# answers a call to it from this package with nothing, although the same call as a query is right.
