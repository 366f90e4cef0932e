data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  use_actions = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
  ]

  statements = concat(
    [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ],
    var.allow_cloudwatch_logs ? [
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = local.use_actions
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:*"
          }
        }
      },
    ] : [],
    var.allow_autoscaling_service_role ? [
      {
        Sid    = "AutoScalingServiceLinkedRole"
        Effect = "Allow"
        # Matched by condition so the policy is valid before the service-linked role exists.
        Principal = { AWS = "*" }
        Action    = concat(local.use_actions, ["kms:CreateGrant"])
        Resource  = "*"
        Condition = {
          StringEquals = { "kms:CallerAccount" = local.account_id }
          ArnEquals = {
            "aws:PrincipalArn" = "arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
          }
        }
      },
    ] : [],
    length(var.additional_user_role_arns) > 0 ? [
      {
        Sid       = "AdditionalUsers"
        Effect    = "Allow"
        Principal = { AWS = var.additional_user_role_arns }
        Action    = concat(local.use_actions, ["kms:CreateGrant"])
        Resource  = "*"
      },
    ] : [],
  )
}

resource "aws_kms_key" "this" {
  description             = var.description
  deletion_window_in_days = var.deletion_window_in_days
  enable_key_rotation     = var.enable_key_rotation
  is_enabled              = true

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.statements
  })

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
