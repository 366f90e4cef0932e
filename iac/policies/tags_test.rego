package gantry.tags_test

import data.gantry.tags
import data.gantry.testing as t
import rego.v1

cfg := {"mandatory_tags": ["Owner", "CostCenter"]}

test_tagged_resource_passes if {
	p := t.plan([t.rc("aws_instance", "a", {"tags_all": t.tags})])
	count(tags.deny_for(p, cfg)) == 0
}

test_missing_key_is_denied if {
	p := t.plan([t.rc("aws_instance", "a", {"tags_all": {"Owner": "x"}})])
	d := tags.deny_for(p, cfg)
	count(d) == 1
	some f in d
	f.address == "aws_instance.a"
	contains(f.message, "CostCenter")
	not contains(f.message, "Owner")
}

test_empty_value_counts_as_missing if {
	p := t.plan([t.rc("aws_s3_bucket", "b", {"tags_all": {"Owner": "  ", "CostCenter": "cc"}})])
	count(tags.deny_for(p, cfg)) == 1
}

test_tags_used_when_tags_all_unknown if {
	r := t.with_unknown(t.rc("aws_vpc", "v", {"tags": {"Owner": "x", "CostCenter": "y"}}), {"tags_all": true})
	count(tags.deny_for(t.plan([r]), cfg)) == 0
}

test_provider_default_tags_fill_unknown_tags_all if {
	r := t.with_unknown(t.rc("aws_vpc", "v", {"tags": {"Owner": "x"}}), {"tags_all": true})
	p := object.union(t.plan([r]), {"configuration": {"provider_config": {"aws": {
		"name": "aws",
		"expressions": {"default_tags": [{"tags": {"constant_value": {"CostCenter": "cc"}}}]},
	}}}})
	count(tags.deny_for(p, cfg)) == 0
}

test_asg_tag_blocks_are_read if {
	ok := t.rc("aws_autoscaling_group", "g", {"tag": [
		{"key": "Owner", "value": "x", "propagate_at_launch": true},
		{"key": "CostCenter", "value": "y", "propagate_at_launch": true},
	]})
	bad := t.rc("aws_autoscaling_group", "h", {"tag": []})
	t.addresses(tags.deny_for(t.plan([ok, bad]), cfg)) == {"aws_autoscaling_group.h"}
}

test_untaggable_resource_ignored if {
	p := t.plan([t.rc("aws_lb_listener_rule", "r", {"priority": 10})])
	count(tags.deny_for(p, cfg)) == 0
}

test_delete_and_noop_ignored if {
	r := t.rc("aws_instance", "a", {"tags_all": {}})
	p := t.plan([t.with_actions(r, ["delete"]), t.with_actions(r, ["no-op"])])
	count(tags.deny_for(p, cfg)) == 0
}

test_replace_counts if {
	r := t.with_actions(t.rc("aws_instance", "a", {"tags_all": {}}), ["delete", "create"])
	count(tags.deny_for(t.plan([r]), cfg)) == 1
}

test_no_mandatory_tags_configured if {
	p := t.plan([t.rc("aws_instance", "a", {"tags_all": {}})])
	count(tags.deny_for(p, {})) == 0
}
