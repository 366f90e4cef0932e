data "aws_partition" "current" {}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-app-"
  description = "Instances of ${var.name}"
  vpc_id      = var.vpc_id

  dynamic "ingress" {
    for_each = length(var.ingress_security_group_ids) > 0 ? [1] : []
    content {
      description     = "Application port from the load balancer"
      from_port       = var.app_port
      to_port         = var.app_port
      protocol        = "tcp"
      security_groups = var.ingress_security_group_ids
    }
  }

  egress {
    description = "HTTPS to package repositories and AWS APIs"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = var.egress_cidr_blocks
  }

  tags = merge(var.tags, { Name = "${var.name}-app" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role" "this" {
  name_prefix = substr("${var.name}-ec2-", 0, 38)
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "ssm" {
  count = var.attach_ssm_policy ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = substr("${var.name}-ec2-", 0, 38)
  role        = aws_iam_role.this.name

  tags = var.tags
}

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-"
  description            = "Launch template of ${var.name}"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.this.id]
  user_data              = var.user_data == null ? null : base64encode(var.user_data)
  ebs_optimized          = true
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = var.root_device_name

    ebs {
      volume_size           = var.root_volume_size
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = var.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = var.name })
  }

  tag_specifications {
    resource_type = "network-interface"
    tags          = merge(var.tags, { Name = var.name })
  }

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_autoscaling_group" "this" {
  name_prefix               = "${var.name}-"
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.desired_capacity
  health_check_type         = var.health_check_type
  health_check_grace_period = var.health_check_grace_period
  default_cooldown          = 300
  termination_policies      = ["OldestLaunchTemplate", "Default"]
  enabled_metrics = [
    "GroupMinSize",
    "GroupMaxSize",
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupTotalInstances",
  ]

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # Target groups are attached by aws_autoscaling_attachment below.
    ignore_changes = [target_group_arns, load_balancers]

    precondition {
      condition     = var.min_size <= var.desired_capacity && var.desired_capacity <= var.max_size
      error_message = "Sizes must satisfy min_size <= desired_capacity <= max_size."
    }
  }
}

resource "aws_autoscaling_attachment" "this" {
  #checkov:skip=CKV2_AWS_15:The target group (with its health check) comes from the alb module by ARN, which the graph check cannot follow; the group's health_check_type defaults to ELB.
  count = length(var.target_group_arns)

  autoscaling_group_name = aws_autoscaling_group.this.name
  lb_target_group_arn    = var.target_group_arns[count.index]
}
