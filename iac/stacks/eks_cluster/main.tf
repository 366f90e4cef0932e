data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Read only when azs is empty; slice() keeps the first az_count names of the sorted list and new zones get later letters, so an added zone does not change the selection. Pass azs to pin zones.
  count = length(var.azs) == 0 ? 1 : 0

  state = "available"
}

locals {
  azs         = length(var.azs) > 0 ? var.azs : slice(data.aws_availability_zones.available[0].names, 0, var.az_count)
  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : module.kms[0].key_arn
}

module "kms" {
  source = "../../modules/kms"
  count  = var.kms_key_arn == null ? 1 : 0

  name                           = "${var.name}-eks"
  description                    = "EKS cluster ${var.name}: secrets, logs and node volumes"
  allow_cloudwatch_logs          = true
  allow_autoscaling_service_role = true
  tags                           = var.tags
}

module "vpc" {
  source = "../../modules/vpc"

  name                  = var.name
  cidr_block            = var.vpc_cidr
  azs                   = local.azs
  create_public_subnets = true
  enable_nat_gateway    = var.enable_nat_gateway
  enable_flow_logs      = var.enable_flow_logs
  flow_logs_kms_key_arn = local.kms_key_arn
  tags                  = var.tags
}

module "eks" {
  source = "../../modules/eks"

  name                    = var.name
  kubernetes_version      = var.kubernetes_version
  vpc_id                  = module.vpc.vpc_id
  subnet_ids              = module.vpc.private_subnet_ids
  kms_key_arn             = local.kms_key_arn
  endpoint_public_access  = var.endpoint_public_access
  public_access_cidrs     = var.public_access_cidrs
  api_allowed_cidr_blocks = [var.vpc_cidr]
  authentication_mode     = var.authentication_mode
  create_node_group       = var.create_node_group
  node_instance_types     = var.node_instance_types
  node_desired_size       = var.node_desired_size
  node_min_size           = var.node_min_size
  node_max_size           = var.node_max_size
  node_disk_size          = var.node_disk_size
  tags                    = var.tags
}
