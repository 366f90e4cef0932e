output "db_instance_id" {
  description = "DB instance identifier."
  value       = module.db.db_instance_id
}

output "db_instance_arn" {
  description = "DB instance ARN."
  value       = module.db.db_instance_arn
}

output "endpoint" {
  description = "Connection endpoint (host:port)."
  value       = module.db.endpoint
}

output "port" {
  description = "Database port."
  value       = module.db.port
}

output "db_name" {
  description = "Initial database name."
  value       = module.db.db_name
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret with the AWS-managed master password."
  value       = module.db.master_user_secret_arn
}

output "security_group_id" {
  description = "Security group of the database."
  value       = module.db.security_group_id
}

output "kms_key_arn" {
  description = "KMS key encrypting the database."
  value       = local.kms_key_arn
}
