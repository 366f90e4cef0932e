locals {
  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : module.kms[0].key_arn
}

module "kms" {
  source = "../../modules/kms"
  count  = var.kms_key_arn == null ? 1 : 0

  name                  = "${var.name}-db"
  description           = "Data tier ${var.name}: storage, Performance Insights, master secret, logs"
  allow_cloudwatch_logs = true
  tags                  = var.tags
}

module "db" {
  source = "../../modules/rds"

  identifier                 = var.name
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.subnet_ids
  engine                     = var.engine
  engine_version             = var.engine_version
  instance_class             = var.instance_class
  allocated_storage          = var.allocated_storage
  max_allocated_storage      = var.max_allocated_storage
  db_name                    = var.db_name
  master_username            = var.master_username
  allowed_security_group_ids = var.allowed_security_group_ids
  allowed_cidr_blocks        = var.allowed_cidr_blocks
  kms_key_arn                = local.kms_key_arn
  multi_az                   = var.multi_az
  deletion_protection        = var.deletion_protection
  skip_final_snapshot        = var.skip_final_snapshot
  backup_retention_period    = var.backup_retention_period
  monitoring_interval        = var.monitoring_interval
  tags                       = var.tags
}
