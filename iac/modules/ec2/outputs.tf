output "instance_ids" {
  description = "Instance ids."
  value       = aws_instance.this[*].id
}

output "private_ips" {
  description = "Private IPv4 addresses."
  value       = aws_instance.this[*].private_ip
}

output "security_group_id" {
  description = "Security group of the instances."
  value       = aws_security_group.this.id
}

output "iam_role_name" {
  description = "Instance role name."
  value       = aws_iam_role.this.name
}

output "iam_role_arn" {
  description = "Instance role ARN."
  value       = aws_iam_role.this.arn
}
