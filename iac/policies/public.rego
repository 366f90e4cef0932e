# Nothing is reachable from the internet unless the resource (or the bucket / security group it
# belongs to) carries the override tag with a reason; then it is a warning the approver acknowledges.
package gantry.public

import data.gantry.lib
import rego.v1

deny := deny_for(input, lib.config)

warn := warn_for(input, lib.config)

deny_for(plan, cfg) := {f |
	some e in exposures(plan, cfg)
	not override(plan, e, cfg)
	msg := concat("", [e.address, ": ", e.why, " (tag it ", lib.override_key(cfg), "=<reason> to request an exception)"])
	f := lib.finding("no_public_resources", e.address, msg, "critical")
}

warn_for(plan, cfg) := {f |
	some e in exposures(plan, cfg)
	reason := override(plan, e, cfg)
	msg := concat("", [e.address, ": ", e.why, "; allowed by ", lib.override_key(cfg), ": ", reason])
	f := lib.finding("no_public_resources", e.address, msg, "high")
}

# The override reason on the resource itself, else on its parent (bucket, security group).
override(plan, e, cfg) := r if {
	r := lib.override_reason(e.rc, cfg)
} else := r if {
	some parent in parents(plan, e.rc)
	r := lib.override_reason(parent, cfg)
}

parent_link := {
	"aws_s3_bucket_acl": ["bucket", "aws_s3_bucket"],
	"aws_s3_bucket_policy": ["bucket", "aws_s3_bucket"],
	"aws_s3_bucket_public_access_block": ["bucket", "aws_s3_bucket"],
	"aws_security_group_rule": ["security_group_id", "aws_security_group"],
	"aws_vpc_security_group_ingress_rule": ["security_group_id", "aws_security_group"],
}

parents(plan, rc) := [p |
	link := parent_link[rc.type]
	some p in lib.present(plan)
	p.type == link[1]
	lib.linked(plan, rc, link[0], p)
]

exposure(rc, why) := {"address": rc.address, "why": why, "rc": rc}

exposures(plan, cfg) := ((((s3_acls(plan) | s3_policies(plan)) | s3_blocks(plan, cfg)) | lbs(plan)) | ingress(plan)) | (rds(plan) | eks(plan))

# --- S3
public_acls := {"public-read", "public-read-write", "authenticated-read"}

public_grantees := {
	"http://acs.amazonaws.com/groups/global/AllUsers",
	"http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}

s3_acls(plan) := {e |
	some rc in lib.changed(plan)
	rc.type in {"aws_s3_bucket_acl", "aws_s3_bucket"}
	lib.attr(rc, "acl", "") in public_acls
	e := exposure(rc, concat("", ["canned ACL ", lib.attr(rc, "acl", ""), " makes the bucket public"]))
} | {e |
	some rc in lib.changed(plan)
	rc.type == "aws_s3_bucket_acl"
	some acp in lib.attr(rc, "access_control_policy", [])
	some g in acp.grant
	some grantee in g.grantee
	object.get(grantee, "uri", "") in public_grantees
	e := exposure(rc, "ACL grants access to all (authenticated) AWS users")
}

s3_policies(plan) := {e |
	some rc in lib.changed(plan)
	rc.type == "aws_s3_bucket_policy"
	doc := json.unmarshal(lib.attr(rc, "policy", "{}"))
	some st in as_array(object.get(doc, "Statement", []))
	st.Effect == "Allow"
	anyone(st.Principal)
	not st.Condition
	e := exposure(rc, "bucket policy allows Principal \"*\" without a condition")
}

as_array(x) := x if is_array(x)

as_array(x) := [x] if is_object(x)

anyone("*")

anyone(p) if {
	is_object(p)
	some v in as_array_or_string(object.get(p, "AWS", []))
	v == "*"
}

as_array_or_string(x) := x if is_array(x)

as_array_or_string(x) := [x] if is_string(x)

pab_flags := ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]

full_block(pab) if {
	every k in pab_flags {
		lib.attr(pab, k, false) == true
	}
}

s3_blocks(plan, cfg) := {e |
	not cfg.s3_account_public_access_block
	some rc in lib.changed(plan)
	rc.type == "aws_s3_bucket"
	not blocked(plan, rc)
	e := exposure(rc, "bucket has no aws_s3_bucket_public_access_block with all four settings true")
} | {e |
	some rc in lib.changed(plan)
	rc.type == "aws_s3_bucket_public_access_block"
	not full_block(rc)
	e := exposure(rc, "public access block leaves a setting false")
}

blocked(plan, bucket) if {
	some pab in lib.present(plan)
	pab.type == "aws_s3_bucket_public_access_block"
	lib.linked(plan, pab, "bucket", bucket)
	full_block(pab)
}

# --- Load balancers: `internal` defaults to false, i.e. internet-facing.
lbs(plan) := {e |
	some rc in lib.changed(plan)
	rc.type in {"aws_lb", "aws_alb", "aws_elb"}
	lib.attr(rc, "internal", false) != true
	e := exposure(rc, "load balancer is internet-facing (internal = false)")
}

# --- Security groups open to the world.
world_v4 := "0.0.0.0/0"

world_v6 := "::/0"

open_rule(r) if world_v4 in object.get(r, "cidr_blocks", [])

open_rule(r) if world_v6 in object.get(r, "ipv6_cidr_blocks", [])

ingress(plan) := {e |
	some rc in lib.changed(plan)
	rc.type == "aws_security_group"
	some r in lib.attr(rc, "ingress", [])
	open_rule(r)
	e := exposure(rc, concat("", ["ingress on ports ", port_range(r), " is open to the internet"]))
} | {e |
	some rc in lib.changed(plan)
	rc.type == "aws_security_group_rule"
	lib.attr(rc, "type", "") == "ingress"
	open_rule(lib.after(rc))
	e := exposure(rc, concat("", ["ingress on ports ", port_range(lib.after(rc)), " is open to the internet"]))
} | {e |
	some rc in lib.changed(plan)
	rc.type == "aws_vpc_security_group_ingress_rule"
	some key in ["cidr_ipv4", "cidr_ipv6"]
	lib.attr(rc, key, "") in {world_v4, world_v6}
	e := exposure(rc, "ingress rule is open to the internet")
}

port_range(r) := concat("", [format_int(object.get(r, "from_port", 0), 10), "-", format_int(object.get(r, "to_port", 0), 10)])

# --- RDS
rds(plan) := {e |
	some rc in lib.changed(plan)
	rc.type in {"aws_db_instance", "aws_rds_cluster_instance"}
	lib.attr(rc, "publicly_accessible", false) == true
	e := exposure(rc, "database is publicly accessible")
}

# --- EKS: the API endpoint is public by default, open to 0.0.0.0/0.
eks(plan) := {e |
	some rc in lib.changed(plan)
	rc.type == "aws_eks_cluster"
	some vc in lib.attr(rc, "vpc_config", [])
	object.get(vc, "endpoint_public_access", true) != false
	world_v4 in object.get(vc, "public_access_cidrs", [world_v4])
	e := exposure(rc, "EKS API endpoint is public and open to 0.0.0.0/0")
}
