output "cluster_name" {
  description = "Cluster name."
  value       = module.eks.cluster_name
}

output "cluster_arn" {
  description = "Cluster ARN."
  value       = module.eks.cluster_arn
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_version" {
  description = "Kubernetes version."
  value       = module.eks.cluster_version
}

output "oidc_issuer_url" {
  description = "OIDC issuer URL."
  value       = module.eks.oidc_issuer_url
}

output "node_group_name" {
  description = "Managed node group name."
  value       = module.eks.node_group_name
}

output "vpc_id" {
  description = "VPC id."
  value       = module.vpc.vpc_id
}

output "private_subnet_ids" {
  description = "Private subnet ids."
  value       = module.vpc.private_subnet_ids
}

output "kms_key_arn" {
  description = "KMS key of the cluster."
  value       = local.kms_key_arn
}
