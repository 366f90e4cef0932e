output "vpc_id" {
  description = "VPC id."
  value       = module.vpc.vpc_id
}

output "public_subnet_ids" {
  description = "Public subnet ids."
  value       = module.vpc.public_subnet_ids
}

output "private_subnet_ids" {
  description = "Private subnet ids (instances, and the internal load balancer)."
  value       = module.vpc.private_subnet_ids
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = module.alb.dns_name
}

output "alb_url" {
  description = "Base URL of the load balancer."
  value       = module.alb.url
}

output "alb_arn" {
  description = "ARN of the load balancer."
  value       = module.alb.lb_arn
}

output "target_group_arn" {
  description = "ARN of the target group."
  value       = module.alb.target_group_arn
}

output "autoscaling_group_name" {
  description = "Name of the autoscaling group."
  value       = module.asg.autoscaling_group_name
}

output "instance_security_group_id" {
  description = "Security group of the web instances."
  value       = module.asg.security_group_id
}

output "instance_role_name" {
  description = "IAM role of the web instances."
  value       = module.asg.iam_role_name
}

output "kms_key_arn" {
  description = "KMS key encrypting volumes and logs."
  value       = local.kms_key_arn
}
