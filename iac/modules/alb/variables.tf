variable "name" {
  description = "Name of the load balancer; also prefixes its security group and target group."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,27}$", var.name)) && !endswith(var.name, "-")
    error_message = "name must be 1-28 letters, digits or hyphens, must not start or end with a hyphen."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer and target group."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "vpc_cidr_block" {
  description = "CIDR of the VPC; the load balancer may only send traffic to targets inside it."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr_block, 0))
    error_message = "vpc_cidr_block must be a valid IPv4 CIDR."
  }
}

variable "subnet_ids" {
  description = "Subnets of the load balancer, in at least two AZs (public subnets when internet-facing)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An application load balancer needs subnets in at least two availability zones."
  }
}

variable "internal" {
  description = "true for an internal load balancer, false for internet-facing (requires certificate_arn)."
  type        = bool
  default     = true
}

variable "ingress_cidr_blocks" {
  description = "Client CIDRs allowed to reach the listeners. Empty means the VPC CIDR only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ingress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "ingress_cidr_blocks must hold valid IPv4 CIDRs."
  }
}

variable "certificate_arn" {
  description = "ACM/IAM certificate for the HTTPS listener. When set, port 80 redirects to 443. When null, only an HTTP listener is created, which is allowed for internal load balancers only."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:(acm|iam):", var.certificate_arn))
    error_message = "certificate_arn must be an ACM or IAM certificate ARN."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.2 minimum)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-2|FS-1-2)", var.ssl_policy))
    error_message = "ssl_policy must be a TLS 1.2+ ELBSecurityPolicy (TLS13-1-2/1-3, TLS-1-2 or FS-1-2 families)."
  }
}

variable "target_port" {
  description = "Port the targets listen on."
  type        = number
  default     = 80

  validation {
    condition     = var.target_port >= 1 && var.target_port <= 65535
    error_message = "target_port must be between 1 and 65535."
  }
}

variable "target_protocol" {
  description = "Protocol from the load balancer to the targets: HTTP or HTTPS."
  type        = string
  default     = "HTTP"

  validation {
    condition     = contains(["HTTP", "HTTPS"], var.target_protocol)
    error_message = "target_protocol must be HTTP or HTTPS."
  }
}

variable "health_check_path" {
  description = "HTTP path of the target health check."
  type        = string
  default     = "/"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with '/'."
  }
}

variable "deletion_protection" {
  description = "Protect the load balancer against deletion."
  type        = bool
  default     = true
}

variable "idle_timeout" {
  description = "Idle connection timeout in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.idle_timeout >= 1 && var.idle_timeout <= 4000
    error_message = "idle_timeout must be between 1 and 4000 seconds."
  }
}

variable "access_logs_bucket" {
  description = "S3 bucket for access logs (its policy must allow ELB log delivery). null disables access logs."
  type        = string
  default     = null
}

variable "access_logs_prefix" {
  description = "Key prefix of access logs in access_logs_bucket."
  type        = string
  default     = null
}

variable "web_acl_arn" {
  description = "WAFv2 web ACL to associate with the load balancer. null for none."
  type        = string
  default     = null

  validation {
    condition     = var.web_acl_arn == null || can(regex("^arn:aws[a-z-]*:wafv2:", var.web_acl_arn))
    error_message = "web_acl_arn must be a WAFv2 web ACL ARN."
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
