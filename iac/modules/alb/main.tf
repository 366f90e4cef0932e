locals {
  https         = var.certificate_arn != null
  client_cidrs  = length(var.ingress_cidr_blocks) > 0 ? var.ingress_cidr_blocks : [var.vpc_cidr_block]
  listener_port = local.https ? 443 : 80
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-alb-"
  description = "Load balancer ${var.name}: clients in, targets out"
  vpc_id      = var.vpc_id

  ingress {
    description = "Clients to the ${local.https ? "HTTPS" : "HTTP"} listener"
    from_port   = local.listener_port
    to_port     = local.listener_port
    protocol    = "tcp"
    cidr_blocks = local.client_cidrs
  }

  dynamic "ingress" {
    for_each = local.https ? [80] : []
    content {
      description = "Clients to the HTTP listener that redirects to HTTPS"
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = local.client_cidrs
    }
  }

  egress {
    description = "Load balancer to targets inside the VPC"
    from_port   = var.target_port
    to_port     = var.target_port
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr_block]
  }

  tags = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:Access logs need a pre-existing log bucket with an ELB delivery policy; they are enabled by setting access_logs_bucket.
  #checkov:skip=CKV2_AWS_28:WAF is attached through web_acl_arn when the caller has a web ACL; internal load balancers default to none.
  #checkov:skip=CKV2_AWS_76:The web ACL (and its Log4j AMR rule set) is owned and reviewed where it is defined; this module only associates web_acl_arn.
  #checkov:skip=CKV2_AWS_20:Without certificate_arn only an internal HTTP listener exists (enforced by a precondition); with it, port 80 redirects to HTTPS.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = var.internal
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.this.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  desync_mitigation_mode     = "defensive"
  idle_timeout               = var.idle_timeout

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = var.access_logs_prefix
      enabled = true
    }
  }

  tags = merge(var.tags, { Name = var.name })

  lifecycle {
    precondition {
      condition     = var.internal || var.certificate_arn != null
      error_message = "An internet-facing load balancer requires certificate_arn (HTTPS only)."
    }
  }
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the load balancer and target traffic stays inside the VPC; set target_protocol = "HTTPS" for end-to-end TLS.
  name                 = substr("${var.name}-tg", 0, 32)
  port                 = var.target_port
  protocol             = var.target_protocol
  vpc_id               = var.vpc_id
  target_type          = "instance"
  deregistration_delay = 30

  health_check {
    enabled             = true
    path                = var.health_check_path
    protocol            = var.target_protocol
    matcher             = "200-399"
    interval            = 30
    timeout             = 5
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }

  tags = merge(var.tags, { Name = "${var.name}-tg" })
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = merge(var.tags, { Name = "${var.name}-https" })
}

resource "aws_lb_listener" "http_redirect" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-http-redirect" })
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:Created only when no certificate is given, which a precondition allows for internal load balancers only.
  #checkov:skip=CKV_AWS_103:Plain HTTP listener (no TLS) exists only for internal load balancers without a certificate.
  count = local.https ? 0 : 1

  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = merge(var.tags, { Name = "${var.name}-http" })
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.web_acl_arn == null ? 0 : 1

  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.web_acl_arn
}
