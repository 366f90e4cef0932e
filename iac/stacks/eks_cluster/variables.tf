variable "name" {
  description = "Cluster name; prefixes every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name))
    error_message = "name must be 2-24 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version."
  type        = string
  default     = "1.31"
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
  description = "Number of availability zones (EKS needs at least 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6."
  }
}

variable "azs" {
  description = "Explicit availability zones; empty means the first az_count available zones."
  type        = list(string)
  default     = []
}

variable "enable_nat_gateway" {
  description = "NAT gateway for node egress (image pulls)."
  type        = bool
  default     = true
}

variable "enable_flow_logs" {
  description = "VPC flow logs to an encrypted log group."
  type        = bool
  default     = true
}

variable "endpoint_public_access" {
  description = "Expose the API endpoint publicly (restricted to public_access_cidrs)."
  type        = bool
  default     = false
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to the public API endpoint."
  type        = list(string)
  default     = []
}

variable "create_node_group" {
  description = "Create a managed node group."
  type        = bool
  default     = true
}

variable "node_instance_types" {
  description = "Instance types of the nodes."
  type        = list(string)
  default     = ["t3.medium"]
}

variable "node_desired_size" {
  description = "Desired number of nodes."
  type        = number
  default     = 2
}

variable "node_min_size" {
  description = "Minimum number of nodes."
  type        = number
  default     = 1
}

variable "node_max_size" {
  description = "Maximum number of nodes."
  type        = number
  default     = 3
}

variable "node_disk_size" {
  description = "Node root volume size in GiB."
  type        = number
  default     = 20
}

variable "authentication_mode" {
  description = "API, API_AND_CONFIG_MAP or CONFIG_MAP; null leaves the EKS default."
  type        = string
  default     = "API_AND_CONFIG_MAP"
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
