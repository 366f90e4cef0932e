package gantry.regions_test

import data.gantry.regions
import data.gantry.testing as t
import rego.v1

cfg := {"allowed_regions": ["ap-south-1", "eu-west-1"], "region": "ap-south-1"}

provider_plan(region_expr, variables) := {
	"resource_changes": [],
	"variables": variables,
	"configuration": {"provider_config": {"aws": {"name": "aws", "expressions": {"region": region_expr}}}},
}

test_allowed_constant_region_passes if {
	count(regions.deny_for(provider_plan({"constant_value": "eu-west-1"}, {}), cfg)) == 0
}

test_disallowed_constant_region_denied if {
	d := regions.deny_for(provider_plan({"constant_value": "us-east-1"}, {}), cfg)
	t.addresses(d) == {"provider[aws]"}
}

test_region_from_variable if {
	p := provider_plan({"references": ["var.region"]}, {"region": {"value": "us-west-2"}})
	count(regions.deny_for(p, cfg)) == 1
	ok := provider_plan({"references": ["var.region"]}, {"region": {"value": "ap-south-1"}})
	count(regions.deny_for(ok, cfg)) == 0
}

test_config_region_checked if {
	count(regions.deny_for(t.plan([]), {"allowed_regions": ["eu-west-1"], "region": "ap-south-1"})) == 1
}

test_resource_arn_region if {
	ok := t.with_actions(t.rc("aws_kms_key", "ok", {"arn": "arn:aws:kms:ap-south-1:111122223333:key/a"}), ["update"])
	bad := t.with_actions(t.rc("aws_kms_key", "bad", {"arn": "arn:aws:kms:us-east-1:111122223333:key/b"}), ["update"])
	global := t.with_actions(t.rc("aws_iam_role", "r", {"arn": "arn:aws:iam::111122223333:role/r"}), ["update"])
	t.addresses(regions.deny_for(t.plan([ok, bad, global]), cfg)) == {"aws_kms_key.bad"}
}

test_availability_zone if {
	ok := t.rc("aws_subnet", "a", {"availability_zone": "ap-south-1a"})
	bad := t.rc("aws_subnet", "b", {"availability_zone": "us-east-1b"})
	t.addresses(regions.deny_for(t.plan([ok, bad]), cfg)) == {"aws_subnet.b"}
}

test_no_allow_list_no_check if {
	count(regions.deny_for(provider_plan({"constant_value": "us-east-1"}, {}), {})) == 0
}
