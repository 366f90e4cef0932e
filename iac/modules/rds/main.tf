data "aws_partition" "current" {}

locals {
  port       = var.engine == "postgres" ? 5432 : 3306
  log_types  = var.engine == "postgres" ? ["postgresql", "upgrade"] : ["audit", "error", "general", "slowquery"]
  monitoring = var.monitoring_interval > 0
}

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.identifier}-"
  description = "Subnets of ${var.identifier}"
  subnet_ids  = var.subnet_ids

  tags = merge(var.tags, { Name = var.identifier })
}

resource "aws_security_group" "this" {
  name_prefix = "${var.identifier}-db-"
  description = "Database ${var.identifier}: clients in on the engine port only"
  vpc_id      = var.vpc_id

  dynamic "ingress" {
    for_each = length(var.allowed_security_group_ids) > 0 ? [1] : []
    content {
      description     = "Database clients (security groups)"
      from_port       = local.port
      to_port         = local.port
      protocol        = "tcp"
      security_groups = var.allowed_security_group_ids
    }
  }

  dynamic "ingress" {
    for_each = length(var.allowed_cidr_blocks) > 0 ? [1] : []
    content {
      description = "Database clients (CIDRs)"
      from_port   = local.port
      to_port     = local.port
      protocol    = "tcp"
      cidr_blocks = var.allowed_cidr_blocks
    }
  }

  tags = merge(var.tags, { Name = "${var.identifier}-db" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_parameter_group" "postgres" {
  count = var.engine == "postgres" ? 1 : 0

  name_prefix = "${var.identifier}-"
  family      = "postgres${split(".", var.engine_version)[0]}"
  description = "Parameters of ${var.identifier}: TLS only, DDL and slow query logging"

  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "pending-reboot"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_parameter_group" "mysql" {
  count = var.engine == "mysql" ? 1 : 0

  name_prefix = "${var.identifier}-"
  family      = "mysql${var.engine_version}"
  description = "Parameters of ${var.identifier}: TLS only"

  parameter {
    name  = "require_secure_transport"
    value = "1"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role" "monitoring" {
  count = local.monitoring ? 1 : 0

  name_prefix = substr("${var.identifier}-rds-mon-", 0, 38)
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count = local.monitoring ? 1 : 0

  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_354:Performance Insights is always encrypted with kms_key_arn (required, validated input); skipped only because the plan-JSON scan reads a key created in the same run (unknown at plan time) as missing.
  identifier     = var.identifier
  engine         = var.engine
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = var.db_name
  port           = local.port

  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage > 0 ? var.max_allocated_storage : null
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  parameter_group_name   = var.engine == "postgres" ? aws_db_parameter_group.postgres[0].name : aws_db_parameter_group.mysql[0].name
  publicly_accessible    = false
  multi_az               = var.multi_az

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  apply_immediately                   = false
  copy_tags_to_snapshot               = true
  backup_retention_period             = var.backup_retention_period
  backup_window                       = "03:00-04:00"
  maintenance_window                  = "sun:04:30-sun:05:30"
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = var.skip_final_snapshot
  final_snapshot_identifier           = var.skip_final_snapshot ? null : "${var.identifier}-final"
  enabled_cloudwatch_logs_exports     = local.log_types

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = var.performance_insights_retention_period

  monitoring_interval = var.monitoring_interval
  monitoring_role_arn = local.monitoring ? aws_iam_role.monitoring[0].arn : null

  tags = merge(var.tags, { Name = var.identifier })

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}
