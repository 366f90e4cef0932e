data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Read only when azs is empty; slice() keeps the first az_count names of the sorted list and new zones get later letters, so an added zone does not change the selection. Pass azs to pin zones.
  count = length(var.azs) == 0 ? 1 : 0

  state = "available"
}

locals {
  azs         = length(var.azs) > 0 ? var.azs : slice(data.aws_availability_zones.available[0].names, 0, var.az_count)
  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : module.kms[0].key_arn
  ingress     = length(var.ingress_cidr_blocks) > 0 ? var.ingress_cidr_blocks : (var.internet_facing ? ["0.0.0.0/0"] : [])
}

module "kms" {
  source = "../../modules/kms"
  count  = var.kms_key_arn == null ? 1 : 0

  name                           = "${var.name}-web"
  description                    = "Web tier ${var.name}: EBS volumes and logs"
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

module "alb" {
  source = "../../modules/alb"

  name                = var.name
  vpc_id              = module.vpc.vpc_id
  vpc_cidr_block      = module.vpc.vpc_cidr_block
  subnet_ids          = var.internet_facing ? module.vpc.public_subnet_ids : module.vpc.private_subnet_ids
  internal            = !var.internet_facing
  ingress_cidr_blocks = local.ingress
  certificate_arn     = var.certificate_arn
  target_port         = var.app_port
  health_check_path   = var.health_check_path
  deletion_protection = var.deletion_protection
  tags                = var.tags
}

module "asg" {
  source = "../../modules/asg_ec2"

  name                       = var.name
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.private_subnet_ids
  ami_id                     = var.ami_id
  instance_type              = var.instance_type
  desired_capacity           = var.instance_count
  min_size                   = coalesce(var.min_size, var.instance_count)
  max_size                   = coalesce(var.max_size, var.instance_count)
  target_group_arns          = [module.alb.target_group_arn]
  app_port                   = var.app_port
  ingress_security_group_ids = [module.alb.security_group_id]
  kms_key_arn                = local.kms_key_arn
  user_data                  = var.user_data
  attach_ssm_policy          = var.attach_ssm_policy
  tags                       = var.tags
}
