output "bucket_id" {
  description = "Bucket name."
  value       = module.bucket.bucket_id
}

output "bucket_arn" {
  description = "Bucket ARN."
  value       = module.bucket.bucket_arn
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the bucket."
  value       = module.bucket.bucket_regional_domain_name
}

output "kms_key_arn" {
  description = "KMS key encrypting the bucket."
  value       = local.kms_key_arn
}
