variable "name" {
  description = "Name prefix for the VPC and its resources."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,38}$", var.name))
    error_message = "name must be 1-39 lowercase letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC (/16 to /24)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 24
    error_message = "cidr_block must be a valid IPv4 CIDR between /16 and /24."
  }
}

variable "azs" {
  description = "Availability zones to spread subnets over (one public and one private subnet per AZ)."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 1 && length(var.azs) <= 6 && length(distinct(var.azs)) == length(var.azs)
    error_message = "azs must hold 1 to 6 distinct availability zone names."
  }
}

variable "subnet_newbits" {
  description = "Bits added to the VPC prefix for each subnet (4 on a /16 gives /20 subnets)."
  type        = number
  default     = 4

  validation {
    condition     = var.subnet_newbits >= 2 && var.subnet_newbits <= 8
    error_message = "subnet_newbits must be between 2 and 8."
  }
}

variable "create_public_subnets" {
  description = "Create public subnets with an internet gateway (needed for internet-facing load balancers and NAT)."
  type        = bool
  default     = true
}

variable "enable_nat_gateway" {
  description = "Give private subnets outbound internet access through NAT gateway(s). Requires create_public_subnets."
  type        = bool
  default     = true
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (cheaper) instead of one per AZ (highly available)."
  type        = bool
  default     = true
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs to an encrypted CloudWatch log group."
  type        = bool
  default     = true
}

variable "flow_logs_kms_key_arn" {
  description = "KMS key ARN that encrypts the flow log group. Required when enable_flow_logs is true."
  type        = string
  default     = null

  validation {
    condition     = var.flow_logs_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.flow_logs_kms_key_arn))
    error_message = "flow_logs_kms_key_arn must be a KMS key ARN."
  }
}

variable "flow_logs_retention_days" {
  description = "Retention of the flow log group in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_logs_retention_days)
    error_message = "flow_logs_retention_days must be a CloudWatch retention value of at least 365 days."
  }
}

variable "flow_logs_traffic_type" {
  description = "Traffic captured by flow logs: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_logs_traffic_type)
    error_message = "flow_logs_traffic_type must be ACCEPT, REJECT or ALL."
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
