# Data at rest is encrypted, with KMS where the service supports choosing the key.
package gantry.encryption

import data.gantry.lib
import rego.v1

deny := deny_for(input, lib.config)

deny_for(plan, cfg) := ((((s3(plan) | s3_config(plan)) | rds(plan)) | ebs(plan, cfg)) | launch_templates(plan, cfg)) | eks(plan)

# data.config.ebs_encryption_by_default: the account encrypts new EBS volumes by default, so volumes
# that come from an AMI (no block device declared) are encrypted too.
account_default(cfg) if cfg.ebs_encryption_by_default == true

problem(rc, message) := lib.finding("kms_encryption", rc.address, concat("", [rc.address, ": ", message]), "high")

kms_algorithms := {"aws:kms", "aws:kms:dsse"}

# --- S3: a bucket needs an SSE configuration using aws:kms (inline on old providers, else a resource).
sse_algorithms(sse) := {d.sse_algorithm |
	some r in object.get(lib.after(sse), "rule", [])
	some d in object.get(r, "apply_server_side_encryption_by_default", [])
}

bucket_kms(plan, bucket) if {
	some sse in lib.present(plan)
	sse.type == "aws_s3_bucket_server_side_encryption_configuration"
	lib.linked(plan, sse, "bucket", bucket)
	some alg in sse_algorithms(sse)
	alg in kms_algorithms
}

# Provider v3 inline block.
bucket_kms(plan, bucket) if {
	some c in lib.attr(bucket, "server_side_encryption_configuration", [])
	some r in c.rule
	some d in r.apply_server_side_encryption_by_default
	d.sse_algorithm in kms_algorithms
}

s3(plan) := {f |
	some rc in lib.changed(plan)
	rc.type == "aws_s3_bucket"
	not bucket_kms(plan, rc)
	f := problem(rc, "S3 bucket has no server-side encryption configuration using aws:kms")
}

s3_config(plan) := {f |
	some rc in lib.changed(plan)
	rc.type == "aws_s3_bucket_server_side_encryption_configuration"
	some alg in sse_algorithms(rc)
	not alg in kms_algorithms
	f := problem(rc, concat("", ["S3 default encryption uses ", alg, " instead of aws:kms"]))
}

# --- RDS: storage_encrypted with an explicit customer-managed key.
rds_types := {"aws_db_instance", "aws_rds_cluster"}

rds(plan) := {f |
	some rc in lib.changed(plan)
	rc.type in rds_types
	some msg in rds_problems(plan, rc)
	f := problem(rc, msg)
}

rds_problems(plan, rc) := {msg |
	lib.attr(rc, "storage_encrypted", false) != true
	msg := "storage_encrypted is not true"
} | {msg |
	not lib.configured(plan, rc, "kms_key_id")
	msg := "kms_key_id is not set (the AWS-managed default key is not allowed)"
}

# --- EBS: standalone volumes and instance block devices.
ebs(plan, cfg) := {f |
	some rc in lib.changed(plan)
	rc.type == "aws_ebs_volume"
	lib.attr(rc, "encrypted", false) != true
	f := problem(rc, "EBS volume is not encrypted")
} | {f |
	some rc in lib.changed(plan)
	rc.type == "aws_instance"
	some kind in ["root_block_device", "ebs_block_device"]
	not all_encrypted(lib.attr(rc, kind, []))
	f := problem(rc, concat("", [kind, " is not encrypted (set encrypted = true explicitly)"]))
} | {f |
	some rc in lib.changed(plan)
	rc.type == "aws_instance"
	count(lib.attr(rc, "root_block_device", [])) == 0
	not account_default(cfg)
	f := problem(rc, "root_block_device is not declared, so its encryption depends on the account default")
}

all_encrypted(devices) if {
	every d in devices {
		d.encrypted == true
	}
}

# --- Launch templates: every EBS mapping encrypted ("true" is a string in this schema).
launch_templates(plan, cfg) := {f |
	some rc in lib.changed(plan)
	rc.type == "aws_launch_template"
	some m in lib.attr(rc, "block_device_mappings", [])
	some e in object.get(m, "ebs", [])
	not object.get(e, "encrypted", "") in {"true", true}
	f := problem(rc, concat("", ["block device ", object.get(m, "device_name", "?"), " is not encrypted"]))
} | {f |
	some rc in lib.changed(plan)
	rc.type == "aws_launch_template"
	count(lib.attr(rc, "block_device_mappings", [])) == 0
	not account_default(cfg)
	f := problem(rc, "no block_device_mappings, so the root volume's encryption depends on the account default")
}

# --- EKS: envelope encryption of Kubernetes secrets with a KMS key.
eks(plan) := {f |
	some rc in lib.changed(plan)
	rc.type == "aws_eks_cluster"
	not eks_secrets_encrypted(rc)
	f := problem(rc, "EKS cluster has no encryption_config with a KMS key for \"secrets\"")
}

eks_secrets_encrypted(rc) if {
	some i
	c := lib.attr(rc, "encryption_config", [])[i]
	"secrets" in c.resources
	eks_key_set(rc, i)
}

eks_key_set(rc, i) if {
	some p in lib.attr(rc, "encryption_config", [])[i].provider
	p.key_arn != ""
	is_string(p.key_arn)
}

# key_arn references a key created in the same plan, so it is unknown until apply.
eks_key_set(rc, i) if lib.after_unknown(rc).encryption_config[i].provider[0].key_arn == true
