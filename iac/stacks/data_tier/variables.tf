variable "name" {
  description = "Name of the data tier; used as the DB instance identifier."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,39}$", var.name)) && !can(regex("--|-$", var.name))
    error_message = "name must start with a letter, hold 1-40 lowercase letters, digits or single hyphens and not end with a hyphen."
  }
}

variable "vpc_id" {
  description = "Existing VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Existing private subnets (at least two AZs) for the DB subnet group."
  type        = list(string)
}

variable "engine" {
  description = "postgres or mysql."
  type        = string
  default     = "postgres"
}

variable "engine_version" {
  description = "Major engine version (e.g. 16 for postgres, 8.0 for mysql)."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
  default     = "db.t3.medium"
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB; 0 disables it."
  type        = number
  default     = 100
}

variable "db_name" {
  description = "Initial database name."
  type        = string
  default     = "app"
}

variable "master_username" {
  description = "Master user name (password managed by RDS in Secrets Manager)."
  type        = string
  default     = "dbadmin"
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect (e.g. the web tier instances)."
  type        = list(string)
  default     = []
}

variable "allowed_cidr_blocks" {
  description = "Private CIDRs allowed to connect."
  type        = list(string)
  default     = []
}

variable "multi_az" {
  description = "Synchronous standby in another AZ."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the instance against deletion."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot (sandboxes only)."
  type        = bool
  default     = false
}

variable "backup_retention_period" {
  description = "Days of automated backups."
  type        = number
  default     = 7
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds; 0 disables it."
  type        = number
  default     = 60
}

variable "kms_key_arn" {
  description = "Existing customer KMS key; null creates one."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
}
