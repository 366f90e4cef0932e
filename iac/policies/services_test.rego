package gantry.services_test

import data.gantry.services
import data.gantry.testing as t
import rego.v1

cfg := {"allowed_services": ["ec2", "elasticloadbalancing", "s3"]}

test_service_mapping if {
	services.service("aws_instance", {}) == "ec2"
	services.service("aws_launch_template", {}) == "ec2"
	services.service("aws_lb_target_group", {}) == "elasticloadbalancing"
	services.service("aws_db_instance", {}) == "rds"
	services.service("aws_s3_bucket_policy", {}) == "s3"
	services.service("aws_eks_node_group", {}) == "eks"
	services.service("aws_kms_alias", {}) == "kms"
	services.service("aws_autoscaling_group", {}) == "autoscaling"
	services.service("aws_vpc_security_group_ingress_rule", {}) == "ec2"
}

test_longest_prefix_wins if {
	services.service("aws_route_table", {}) == "ec2"
	services.service("aws_route53_record", {}) == "route53"
}

test_allowed_services_pass if {
	p := t.plan([t.rc("aws_instance", "a", {}), t.rc("aws_lb", "b", {}), t.rc("aws_s3_bucket", "c", {})])
	count(services.deny_for(p, cfg)) == 0
}

test_disallowed_service_denied if {
	d := services.deny_for(t.plan([t.rc("aws_db_instance", "db", {})]), cfg)
	count(d) == 1
	some f in d
	contains(f.message, "service rds")
}

test_unmapped_aws_type_denied if {
	d := services.deny_for(t.plan([t.rc("aws_foobar_widget", "w", {})]), cfg)
	t.addresses(d) == {"aws_foobar_widget.w"}
}

test_non_aws_resources_ignored if {
	count(services.deny_for(t.plan([t.rc("random_password", "db", {})]), cfg)) == 0
}

test_config_service_map_extends if {
	c := object.union(cfg, {"service_map": {"aws_foobar_": "s3"}})
	count(services.deny_for(t.plan([t.rc("aws_foobar_widget", "w", {})]), c)) == 0
}

test_deleting_disallowed_service_allowed if {
	count(services.deny_for(t.plan([t.with_actions(t.rc("aws_sqs_queue", "q", {}), ["delete"])]), cfg)) == 0
}

test_no_allow_list_no_check if {
	count(services.deny_for(t.plan([t.rc("aws_sqs_queue", "q", {})]), {})) == 0
}
