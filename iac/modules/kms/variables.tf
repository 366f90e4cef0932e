variable "name" {
  description = "Key name; used for the alias (alias/<name>) and the Name tag."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,200}$", var.name)) && !startswith(var.name, "aws/")
    error_message = "name must be 1-200 characters of letters, digits, '/', '_' or '-' and must not start with 'aws/'."
  }
}

variable "description" {
  description = "Key description."
  type        = string
  default     = "Customer managed key created by Gantry"
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled key deletion completes."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "enable_key_rotation" {
  description = "Rotate the key material yearly. Keep true; false only for documented exceptions."
  type        = bool
  default     = true
}

variable "allow_cloudwatch_logs" {
  description = "Allow the CloudWatch Logs service of this region to encrypt log groups with the key."
  type        = bool
  default     = true
}

variable "allow_autoscaling_service_role" {
  description = "Allow the EC2 Auto Scaling service-linked role to use the key (needed to launch instances with volumes encrypted by this key)."
  type        = bool
  default     = false
}

variable "additional_user_role_arns" {
  description = "IAM role ARNs allowed to use the key directly (encrypt, decrypt, data keys, grants for AWS resources)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.additional_user_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "additional_user_role_arns must be IAM role ARNs."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)

  validation {
    condition     = length(var.tags) > 0
    error_message = "tags must not be empty."
  }
}
