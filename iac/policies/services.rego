# Only services the tenant allows may be used. Resource types map to services by the longest
# matching prefix; an AWS type with no mapping is denied (fail closed). Non-AWS types are ignored
# here (the safety gate allow-lists providers). No allow-list configured = no check.
package gantry.services

import data.gantry.lib
import rego.v1

deny := deny_for(input, lib.config)

# Type prefix -> service name as IAM spells it; data.config.service_map adds or overrides entries.
service_map := {
	"aws_instance": "ec2",
	"aws_launch_template": "ec2",
	"aws_ebs_": "ec2",
	"aws_volume_attachment": "ec2",
	"aws_vpc": "ec2",
	"aws_subnet": "ec2",
	"aws_security_group": "ec2",
	"aws_internet_gateway": "ec2",
	"aws_egress_only_internet_gateway": "ec2",
	"aws_nat_gateway": "ec2",
	"aws_eip": "ec2",
	"aws_route": "ec2",
	"aws_main_route_table_association": "ec2",
	"aws_network_": "ec2",
	"aws_default_": "ec2",
	"aws_key_pair": "ec2",
	"aws_ami": "ec2",
	"aws_flow_log": "ec2",
	"aws_placement_group": "ec2",
	"aws_lb": "elasticloadbalancing",
	"aws_alb": "elasticloadbalancing",
	"aws_elb": "elasticloadbalancing",
	"aws_db_": "rds",
	"aws_rds_": "rds",
	"aws_s3_": "s3",
	"aws_eks_": "eks",
	"aws_kms_": "kms",
	"aws_autoscaling_": "autoscaling",
	"aws_iam_": "iam",
	"aws_cloudwatch_log_": "logs",
	"aws_cloudwatch_metric_alarm": "cloudwatch",
	"aws_cloudwatch_dashboard": "cloudwatch",
	"aws_cloudwatch_event_": "events",
	"aws_secretsmanager_": "secretsmanager",
	"aws_ssm_": "ssm",
	"aws_acm_": "acm",
	"aws_route53_": "route53",
	"aws_sns_": "sns",
	"aws_sqs_": "sqs",
	"aws_dynamodb_": "dynamodb",
	"aws_lambda_": "lambda",
	"aws_ecr_": "ecr",
	"aws_ecs_": "ecs",
	"aws_elasticache_": "elasticache",
	"aws_wafv2_": "wafv2",
	"aws_cloudfront_": "cloudfront",
}

mapping(cfg) := object.union(service_map, object.get(cfg, "service_map", {}))

# Longest prefix wins, so aws_route53_zone is route53, not ec2 (aws_route).
service(type, cfg) := svc if {
	m := mapping(cfg)
	matches := [prefix | some prefix in object.keys(m); startswith(type, prefix)]
	count(matches) > 0
	some best in matches
	not shorter(best, matches)
	svc := m[best]
}

# max() and sort() in rego-cpp compare numbers as strings, so compare pairwise instead.
shorter(prefix, matches) if {
	some other in matches
	count(other) > count(prefix)
}

deny_for(plan, cfg) := unmapped(plan, cfg) | disallowed(plan, cfg)

disallowed(plan, cfg) := {f |
	cfg.allowed_services
	allowed := {s | some s in cfg.allowed_services}
	some rc in lib.changed(plan)
	startswith(rc.type, "aws_")
	svc := service(rc.type, cfg)
	not svc in allowed
	msg := concat("", [rc.address, ": service ", svc, " (", rc.type, ") is not allowed for this configuration"])
	f := lib.finding("allowed_services", rc.address, msg, "high")
}

unmapped(plan, cfg) := {f |
	cfg.allowed_services
	some rc in lib.changed(plan)
	startswith(rc.type, "aws_")
	not service(rc.type, cfg)
	msg := concat("", [rc.address, ": resource type ", rc.type, " is not mapped to a service, so it cannot be allowed"])
	f := lib.finding("allowed_services", rc.address, msg, "high")
}
