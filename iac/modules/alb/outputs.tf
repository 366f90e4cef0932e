output "lb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "lb_arn_suffix" {
  description = "ARN suffix of the load balancer (for CloudWatch metrics)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Route 53 hosted zone id of the load balancer (for alias records)."
  value       = aws_lb.this.zone_id
}

output "security_group_id" {
  description = "Security group of the load balancer; allow it on the targets' port."
  value       = aws_security_group.this.id
}

output "target_group_arn" {
  description = "ARN of the target group."
  value       = aws_lb_target_group.this.arn
}

output "listener_arn" {
  description = "ARN of the listener that forwards to the target group (HTTPS when a certificate is set, else HTTP)."
  value       = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http[0].arn
}

output "url" {
  description = "Base URL of the load balancer."
  value       = "${local.https ? "https" : "http"}://${aws_lb.this.dns_name}"
}
