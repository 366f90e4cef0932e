package gantry.encryption_test

import data.gantry.encryption
import data.gantry.testing as t
import rego.v1

bucket := t.rc("aws_s3_bucket", "logs", {"bucket": "acme-logs"})

sse(alg) := t.rc("aws_s3_bucket_server_side_encryption_configuration", "logs", {
	"bucket": "acme-logs",
	"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": alg}]}],
})

test_bucket_with_kms_sse_passes if {
	count(encryption.deny_for(t.plan([bucket, sse("aws:kms")]), {})) == 0
}

test_bucket_without_sse_denied if {
	t.addresses(encryption.deny_for(t.plan([bucket]), {})) == {"aws_s3_bucket.logs"}
}

test_aes256_denied_on_bucket_and_config if {
	d := encryption.deny_for(t.plan([bucket, sse("AES256")]), {})
	t.addresses(d) == {"aws_s3_bucket.logs", "aws_s3_bucket_server_side_encryption_configuration.logs"}
}

# A new bucket's id is unknown at plan time: the link comes from the configuration references.
test_sse_linked_by_reference if {
	b := t.rc("aws_s3_bucket", "logs", {})
	s := t.with_unknown(
		t.rc("aws_s3_bucket_server_side_encryption_configuration", "logs", {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]}),
		{"bucket": true},
	)
	p := t.plan_with_config([b, s], [{
		"type": "aws_s3_bucket_server_side_encryption_configuration",
		"name": "logs",
		"expressions": {"bucket": {"references": ["aws_s3_bucket.logs.id", "aws_s3_bucket.logs"]}},
	}])
	count(encryption.deny_for(p, {})) == 0
}

test_sse_linked_by_indexed_reference if {
	b := object.union(t.rc("aws_s3_bucket", "logs", {}), {"address": "aws_s3_bucket.logs[0]", "index": 0})
	s := t.rc("aws_s3_bucket_server_side_encryption_configuration", "logs", {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]})
	p := t.plan_with_config([b, s], [{
		"type": "aws_s3_bucket_server_side_encryption_configuration",
		"name": "logs",
		"expressions": {"bucket": {"references": ["aws_s3_bucket.logs[0].id"]}},
	}])
	count(encryption.deny_for(p, {})) == 0
}

test_sse_for_another_bucket_does_not_count if {
	other := t.rc("aws_s3_bucket", "other", {"bucket": "acme-other"})
	t.addresses(encryption.deny_for(t.plan([bucket, other, sse("aws:kms")]), {})) == {"aws_s3_bucket.other"}
}

db(after) := t.rc("aws_db_instance", "db", object.union({"engine": "postgres", "storage_encrypted": true, "kms_key_id": "arn:aws:kms:ap-south-1:1:key/k"}, after))

test_rds_encrypted_with_key_passes if {
	count(encryption.deny_for(t.plan([db({})]), {})) == 0
}

test_rds_unencrypted_denied if {
	count(encryption.deny_for(t.plan([db({"storage_encrypted": false})]), {})) == 1
}

test_rds_without_kms_key_denied if {
	d := encryption.deny_for(t.plan([db({"kms_key_id": null})]), {})
	count(d) == 1
	some f in d
	contains(f.message, "kms_key_id")
}

test_rds_key_from_reference_passes if {
	r := t.with_unknown(db({"kms_key_id": null}), {"kms_key_id": true})
	p := t.plan_with_config([r], [{"type": "aws_db_instance", "name": "db", "expressions": {"kms_key_id": {"references": ["aws_kms_key.db.arn"]}}}])
	count(encryption.deny_for(p, {})) == 0
}

test_ebs_volume if {
	ok := t.rc("aws_ebs_volume", "ok", {"encrypted": true, "size": 10})
	bad := t.rc("aws_ebs_volume", "bad", {"encrypted": false, "size": 10})
	t.addresses(encryption.deny_for(t.plan([ok, bad]), {})) == {"aws_ebs_volume.bad"}
}

test_instance_block_devices if {
	ok := t.rc("aws_instance", "ok", {"root_block_device": [{"encrypted": true}], "ebs_block_device": []})
	bad := t.rc("aws_instance", "bad", {"root_block_device": [{"encrypted": true}], "ebs_block_device": [{"encrypted": false}]})
	undeclared := t.rc("aws_instance", "undeclared", {"root_block_device": []})
	d := encryption.deny_for(t.plan([ok, bad, undeclared]), {})
	t.addresses(d) == {"aws_instance.bad", "aws_instance.undeclared"}
}

lt(encrypted) := t.rc("aws_launch_template", "app", {"block_device_mappings": [{
	"device_name": "/dev/xvda",
	"ebs": [{"volume_size": 20, "encrypted": encrypted}],
}]})

test_launch_template_encrypted_passes if {
	count(encryption.deny_for(t.plan([lt("true")]), {})) == 0
}

test_launch_template_without_mappings if {
	bare := t.rc("aws_launch_template", "bare", {"instance_type": "t3.micro", "block_device_mappings": []})
	count(encryption.deny_for(t.plan([bare]), {})) == 1
	count(encryption.deny_for(t.plan([bare]), {"ebs_encryption_by_default": true})) == 0
}

test_account_default_covers_undeclared_root_volume_only if {
	undeclared := t.rc("aws_instance", "u", {"root_block_device": []})
	bad := t.rc("aws_instance", "b", {"root_block_device": [{"encrypted": false}]})
	c := {"ebs_encryption_by_default": true}
	t.addresses(encryption.deny_for(t.plan([undeclared, bad]), c)) == {"aws_instance.b"}
}

test_launch_template_unencrypted_denied if {
	count(encryption.deny_for(t.plan([lt("false")]), {})) == 1
	count(encryption.deny_for(t.plan([lt("")]), {})) == 1
}

eks(config) := t.rc("aws_eks_cluster", "this", {"name": "c", "encryption_config": config})

test_eks_secrets_with_key_passes if {
	c := eks([{"resources": ["secrets"], "provider": [{"key_arn": "arn:aws:kms:ap-south-1:1:key/k"}]}])
	count(encryption.deny_for(t.plan([c]), {})) == 0
}

test_eks_key_unknown_at_plan_passes if {
	c := t.with_unknown(eks([{"resources": ["secrets"], "provider": [{}]}]), {"encryption_config": [{"provider": [{"key_arn": true}]}]})
	count(encryption.deny_for(t.plan([c]), {})) == 0
}

test_eks_without_encryption_config_denied if {
	count(encryption.deny_for(t.plan([eks([])]), {})) == 1
	count(encryption.deny_for(t.plan([eks(null)]), {})) == 1
}

test_deleted_resources_ignored if {
	count(encryption.deny_for(t.plan([t.with_actions(db({"storage_encrypted": false}), ["delete"])]), {})) == 0
}
