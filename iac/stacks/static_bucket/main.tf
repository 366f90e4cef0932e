locals {
  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : module.kms[0].key_arn
}

module "kms" {
  source = "../../modules/kms"
  count  = var.kms_key_arn == null ? 1 : 0

  name                  = "s3-${var.bucket_name}"
  description           = "Bucket ${var.bucket_name}: default encryption"
  allow_cloudwatch_logs = false
  tags                  = var.tags
}

module "bucket" {
  source = "../../modules/s3"

  bucket_name                        = var.bucket_name
  kms_key_arn                        = local.kms_key_arn
  versioning_enabled                 = var.versioning_enabled
  force_destroy                      = var.force_destroy
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  access_log_bucket                  = var.access_log_bucket
  tags                               = var.tags
}
