variable "name" {
  description = "Name prefix of the instances, role and security group."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,39}$", var.name))
    error_message = "name must be 1-40 letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "instance_count" {
  description = "Number of instances, spread round-robin over subnet_ids."
  type        = number
  default     = 1

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 20 && floor(var.instance_count) == var.instance_count
    error_message = "instance_count must be a whole number between 1 and 20."
  }
}

variable "ami_id" {
  description = "AMI of the instances."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like t3.medium or m7g.large."
  }
}

variable "vpc_id" {
  description = "VPC of the instances."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "subnet_ids" {
  description = "Subnets (normally private) for the instances."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids must hold at least one subnet."
  }
}

variable "ingress_rules" {
  description = "Inbound rules: port plus source security groups and/or CIDRs."
  type = list(object({
    description     = string
    port            = number
    security_groups = optional(list(string), [])
    cidr_blocks     = optional(list(string), [])
  }))
  default = []

  validation {
    condition     = alltrue([for r in var.ingress_rules : r.port >= 1 && r.port <= 65535 && !contains(r.cidr_blocks, "0.0.0.0/0")])
    error_message = "ingress_rules ports must be 1-65535 and must not open to 0.0.0.0/0."
  }
}

variable "egress_cidr_blocks" {
  description = "Destinations the instances may reach over HTTPS."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "egress_cidr_blocks must hold valid IPv4 CIDRs."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key that encrypts the root volumes."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "root_volume_size" {
  description = "Root volume size in GiB (gp3)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 16384
    error_message = "root_volume_size must be between 8 and 16384 GiB."
  }
}

variable "user_data" {
  description = "Plain-text user data. Never put secrets here."
  type        = string
  default     = null
}

variable "attach_ssm_policy" {
  description = "Attach AmazonSSMManagedInstanceCore to the instance role."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)

  validation {
    condition     = length(var.tags) > 0
    error_message = "tags must not be empty."
  }
}
