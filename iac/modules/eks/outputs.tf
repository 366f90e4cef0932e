output "cluster_name" {
  description = "Cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "Cluster ARN."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_version" {
  description = "Kubernetes version."
  value       = aws_eks_cluster.this.version
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the cluster."
  value       = try(aws_eks_cluster.this.certificate_authority[0].data, null)
}

output "cluster_security_group_id" {
  description = "EKS-managed cluster security group."
  value       = try(aws_eks_cluster.this.vpc_config[0].cluster_security_group_id, null)
}

output "oidc_issuer_url" {
  description = "OIDC issuer URL (for IAM roles for service accounts)."
  value       = try(aws_eks_cluster.this.identity[0].oidc[0].issuer, null)
}

output "cluster_role_arn" {
  description = "IAM role of the control plane."
  value       = aws_iam_role.cluster.arn
}

output "node_role_arn" {
  description = "IAM role of the managed nodes (null without a node group)."
  value       = var.create_node_group ? aws_iam_role.node[0].arn : null
}

output "node_group_name" {
  description = "Managed node group name (null without a node group)."
  value       = var.create_node_group ? aws_eks_node_group.this[0].node_group_name : null
}

output "log_group_name" {
  description = "Control plane log group."
  value       = aws_cloudwatch_log_group.cluster.name
}
