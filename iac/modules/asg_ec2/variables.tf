variable "name" {
  description = "Name prefix of the launch template, autoscaling group, role and security group."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,39}$", var.name))
    error_message = "name must be 1-40 letters, digits or hyphens, starting with a letter or digit."
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
  description = "Subnets (normally private) the group launches instances into."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids must hold at least one subnet."
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
  description = "EC2 instance type, e.g. t3.medium."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like t3.medium or m7g.large."
  }
}

variable "min_size" {
  description = "Minimum number of instances."
  type        = number
  default     = 1

  validation {
    condition     = var.min_size >= 0 && var.min_size <= 100 && floor(var.min_size) == var.min_size
    error_message = "min_size must be a whole number between 0 and 100."
  }
}

variable "max_size" {
  description = "Maximum number of instances (must be >= desired_capacity >= min_size)."
  type        = number
  default     = 3

  validation {
    condition     = var.max_size >= 1 && var.max_size <= 100 && floor(var.max_size) == var.max_size
    error_message = "max_size must be a whole number between 1 and 100."
  }
}

variable "desired_capacity" {
  description = "Desired number of instances."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_capacity >= 0 && var.desired_capacity <= 100 && floor(var.desired_capacity) == var.desired_capacity
    error_message = "desired_capacity must be a whole number between 0 and 100."
  }
}

variable "target_group_arns" {
  description = "Load balancer target groups the group registers its instances with."
  type        = list(string)
  default     = []
}

variable "health_check_type" {
  description = "EC2 or ELB. Keep ELB while target groups are attached so unhealthy targets are replaced."
  type        = string
  default     = "ELB"

  validation {
    condition     = contains(["EC2", "ELB"], var.health_check_type)
    error_message = "health_check_type must be EC2 or ELB."
  }
}

variable "health_check_grace_period" {
  description = "Seconds after launch before health checks count."
  type        = number
  default     = 300

  validation {
    condition     = var.health_check_grace_period >= 0 && var.health_check_grace_period <= 7200
    error_message = "health_check_grace_period must be between 0 and 7200."
  }
}

variable "app_port" {
  description = "Port the application listens on."
  type        = number
  default     = 80

  validation {
    condition     = var.app_port >= 1 && var.app_port <= 65535
    error_message = "app_port must be between 1 and 65535."
  }
}

variable "ingress_security_group_ids" {
  description = "Security groups (e.g. the load balancer's) allowed to reach app_port."
  type        = list(string)
  default     = []
}

variable "egress_cidr_blocks" {
  description = "Destinations the instances may reach over HTTPS (package repositories, AWS APIs)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "egress_cidr_blocks must hold valid IPv4 CIDRs."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key that encrypts the EBS volumes."
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

variable "root_device_name" {
  description = "Root device name of the AMI (/dev/xvda for Amazon Linux)."
  type        = string
  default     = "/dev/xvda"
}

variable "user_data" {
  description = "Plain-text user data (base64-encoded by the module). null for none."
  type        = string
  default     = null
}

variable "attach_ssm_policy" {
  description = "Attach AmazonSSMManagedInstanceCore to the instance role (Session Manager instead of SSH)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags applied to every taggable resource, and propagated to instances and volumes."
  type        = map(string)

  validation {
    condition     = length(var.tags) > 0
    error_message = "tags must not be empty."
  }
}
