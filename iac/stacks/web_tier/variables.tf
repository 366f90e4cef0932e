variable "name" {
  description = "Name of the web tier; prefixes every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,22}[a-z0-9]$", var.name))
    error_message = "name must be 2-24 lowercase letters, digits or hyphens, not starting or ending with a hyphen."
  }
}

variable "ami_id" {
  description = "AMI of the web instances."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the web instances."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like t3.medium or m7g.large."
  }
}

variable "instance_count" {
  description = "Desired number of web instances."
  type        = number
  default     = 2

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 50 && floor(var.instance_count) == var.instance_count
    error_message = "instance_count must be a whole number between 1 and 50."
  }
}

variable "min_size" {
  description = "Minimum instances in the group; null means instance_count."
  type        = number
  default     = null

  validation {
    condition     = var.min_size == null ? true : (var.min_size >= 0 && var.min_size <= 50)
    error_message = "min_size must be between 0 and 50."
  }
}

variable "max_size" {
  description = "Maximum instances in the group; null means instance_count."
  type        = number
  default     = null

  validation {
    condition     = var.max_size == null ? true : (var.max_size >= 1 && var.max_size <= 50)
    error_message = "max_size must be between 1 and 50."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the new VPC."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be a valid IPv4 CIDR between /16 and /24."
  }
}

variable "az_count" {
  description = "Number of availability zones to use (the load balancer needs at least 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6."
  }
}

variable "azs" {
  description = "Explicit availability zones; empty means the first az_count available zones of the region."
  type        = list(string)
  default     = []
}

variable "enable_nat_gateway" {
  description = "Give the private instances outbound internet access through a NAT gateway."
  type        = bool
  default     = true
}

variable "internet_facing" {
  description = "Expose the load balancer to the internet (requires certificate_arn)."
  type        = bool
  default     = false
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS on the load balancer; null serves HTTP (internal only)."
  type        = string
  default     = null
}

variable "ingress_cidr_blocks" {
  description = "Client CIDRs allowed to the load balancer; empty means the VPC CIDR (internal) or 0.0.0.0/0 (internet-facing)."
  type        = list(string)
  default     = []
}

variable "app_port" {
  description = "Port the application listens on."
  type        = number
  default     = 80
}

variable "health_check_path" {
  description = "Health check path of the target group."
  type        = string
  default     = "/"
}

variable "user_data" {
  description = "Plain-text user data of the instances."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "Existing customer KMS key for EBS volumes and logs; null creates one (its policy must allow the Auto Scaling service-linked role and CloudWatch Logs)."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Protect the load balancer against deletion."
  type        = bool
  default     = true
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs to an encrypted CloudWatch log group."
  type        = bool
  default     = true
}

variable "attach_ssm_policy" {
  description = "Attach the AWS managed AmazonSSMManagedInstanceCore policy to the instance role (Session Manager access)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
}
