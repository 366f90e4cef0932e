package gantry.public_test

import data.gantry.public
import data.gantry.testing as t
import rego.v1

cfg := {"override_tag_key": "gantry:allow-public"}

override := {"gantry:allow-public": "public website"}

lb(internal, tags) := t.rc("aws_lb", "web", {"internal": internal, "load_balancer_type": "application", "tags_all": tags})

test_internal_lb_passes if {
	p := t.plan([lb(true, {})])
	count(public.deny_for(p, cfg)) == 0
	count(public.warn_for(p, cfg)) == 0
}

test_internet_facing_lb_denied if {
	p := t.plan([lb(false, {})])
	t.addresses(public.deny_for(p, cfg)) == {"aws_lb.web"}
	count(public.warn_for(p, cfg)) == 0
}

test_override_turns_deny_into_warning if {
	p := t.plan([lb(false, override)])
	count(public.deny_for(p, cfg)) == 0
	w := public.warn_for(p, cfg)
	count(w) == 1
	some f in w
	f.address == "aws_lb.web"
	contains(f.message, "public website")
}

test_override_without_reason_still_denied if {
	count(public.deny_for(t.plan([lb(false, {"gantry:allow-public": " "})]), cfg)) == 1
}

test_default_override_key if {
	count(public.deny_for(t.plan([lb(false, override)]), {})) == 0
}

sg(cidrs, v6) := t.rc("aws_security_group", "web", {"ingress": [{
	"from_port": 443,
	"to_port": 443,
	"protocol": "tcp",
	"cidr_blocks": cidrs,
	"ipv6_cidr_blocks": v6,
}]})

test_security_group_private_cidr_passes if {
	count(public.deny_for(t.plan([sg(["10.0.0.0/8"], [])]), cfg)) == 0
}

test_security_group_world_ingress_denied if {
	count(public.deny_for(t.plan([sg(["0.0.0.0/0"], [])]), cfg)) == 1
	count(public.deny_for(t.plan([sg([], ["::/0"])]), cfg)) == 1
}

test_security_group_rule_uses_group_override if {
	group := t.rc("aws_security_group", "web", {"id": "sg-1", "tags_all": override})
	rule := t.rc("aws_security_group_rule", "https", {
		"type": "ingress", "security_group_id": "sg-1", "from_port": 443, "to_port": 443,
		"cidr_blocks": ["0.0.0.0/0"],
	})
	p := t.plan([group, rule])
	count(public.deny_for(p, cfg)) == 0
	t.addresses(public.warn_for(p, cfg)) == {"aws_security_group_rule.https"}
}

test_security_group_egress_rule_ignored if {
	rule := t.rc("aws_security_group_rule", "out", {"type": "egress", "cidr_blocks": ["0.0.0.0/0"], "from_port": 0, "to_port": 0})
	count(public.deny_for(t.plan([rule]), cfg)) == 0
}

test_vpc_ingress_rule_world_denied if {
	rule := t.rc("aws_vpc_security_group_ingress_rule", "r", {"cidr_ipv4": "0.0.0.0/0", "from_port": 22, "to_port": 22})
	count(public.deny_for(t.plan([rule]), cfg)) == 1
}

test_rds_publicly_accessible if {
	ok := t.rc("aws_db_instance", "ok", {"publicly_accessible": false})
	bad := t.rc("aws_db_instance", "bad", {"publicly_accessible": true})
	t.addresses(public.deny_for(t.plan([ok, bad]), cfg)) == {"aws_db_instance.bad"}
}

bucket(tags) := t.rc("aws_s3_bucket", "site", {"bucket": "acme-site", "tags_all": tags})

pab(flag) := t.rc("aws_s3_bucket_public_access_block", "site", {
	"bucket": "acme-site",
	"block_public_acls": true,
	"block_public_policy": flag,
	"ignore_public_acls": true,
	"restrict_public_buckets": true,
})

test_bucket_with_full_public_access_block_passes if {
	count(public.deny_for(t.plan([bucket({}), pab(true)]), cfg)) == 0
}

test_bucket_without_public_access_block_denied if {
	t.addresses(public.deny_for(t.plan([bucket({})]), cfg)) == {"aws_s3_bucket.site"}
}

test_partial_public_access_block_denied if {
	d := public.deny_for(t.plan([bucket({}), pab(false)]), cfg)
	t.addresses(d) == {"aws_s3_bucket.site", "aws_s3_bucket_public_access_block.site"}
}

test_account_level_block_skips_bucket_check if {
	count(public.deny_for(t.plan([bucket({})]), {"s3_account_public_access_block": true})) == 0
}

test_public_acl_denied_and_bucket_override_applies if {
	acl := t.rc("aws_s3_bucket_acl", "site", {"bucket": "acme-site", "acl": "public-read"})
	count(public.deny_for(t.plan([bucket({}), pab(true), acl]), cfg)) == 1
	p := t.plan([bucket(override), pab(true), acl])
	count(public.deny_for(p, cfg)) == 0
	t.addresses(public.warn_for(p, cfg)) == {"aws_s3_bucket_acl.site"}
}

test_acl_grant_to_all_users_denied if {
	acl := t.rc("aws_s3_bucket_acl", "site", {"bucket": "acme-site", "access_control_policy": [{"grant": [{
		"permission": "READ",
		"grantee": [{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}],
	}]}]})
	count(public.deny_for(t.plan([bucket({}), pab(true), acl]), cfg)) == 1
}

policy(statement) := t.rc("aws_s3_bucket_policy", "site", {"bucket": "acme-site", "policy": json.marshal({
	"Version": "2012-10-17",
	"Statement": [statement],
})})

test_bucket_policy_public_principal_denied if {
	st := {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-site/*"}
	count(public.deny_for(t.plan([bucket({}), pab(true), policy(st)]), cfg)) == 1
	st2 := {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "s3:GetObject"}
	count(public.deny_for(t.plan([bucket({}), pab(true), policy(st2)]), cfg)) == 1
}

test_bucket_policy_with_condition_or_account_passes if {
	cond := {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}
	acct := {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject"}
	deny_all := {"Effect": "Deny", "Principal": "*", "Action": "s3:*"}
	count(public.deny_for(t.plan([bucket({}), pab(true), policy(cond)]), cfg)) == 0
	count(public.deny_for(t.plan([bucket({}), pab(true), policy(acct)]), cfg)) == 0
	count(public.deny_for(t.plan([bucket({}), pab(true), policy(deny_all)]), cfg)) == 0
}

test_eks_public_endpoint if {
	private := t.rc("aws_eks_cluster", "p", {"vpc_config": [{"endpoint_public_access": false}]})
	restricted := t.rc("aws_eks_cluster", "r", {"vpc_config": [{"endpoint_public_access": true, "public_access_cidrs": ["203.0.113.0/24"]}]})
	open := t.rc("aws_eks_cluster", "o", {"vpc_config": [{"endpoint_public_access": true}]})
	t.addresses(public.deny_for(t.plan([private, restricted, open]), cfg)) == {"aws_eks_cluster.o"}
}

test_unchanged_public_resource_ignored if {
	count(public.deny_for(t.plan([t.with_actions(lb(false, {}), ["no-op"])]), cfg)) == 0
}
