from django.urls import path

from . import views

urlpatterns = [
    path("runs/", views.RunListView.as_view(), name="api_run_list"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="api_run_detail"),
    path("runs/<int:pk>/status", views.RunStatusView.as_view(), name="api_run_status"),
    path("runs/<int:pk>/events", views.RunEventListView.as_view(), name="api_run_events"),
    path("runs/<int:pk>/logs", views.RunLogsView.as_view(), name="api_run_logs"),
    path("runs/<int:pk>/cancel", views.RunCancelView.as_view(), name="api_run_cancel"),
    path("iac/generate", views.GenerateView.as_view(), name="api_iac_generate"),
    path("iac/plan", views.PlanView.as_view(), name="api_iac_plan"),
    path("iac/apply", views.ApplyView.as_view(), name="api_iac_apply"),
    path("approvals/", views.ApprovalQueueView.as_view(), name="api_approval_list"),
    path("approvals/<int:pk>/approve", views.ApproveView.as_view(), name="api_approval_approve"),
    path("approvals/<int:pk>/reject", views.RejectView.as_view(), name="api_approval_reject"),
    path("artifacts/<int:pk>", views.ArtifactDetailView.as_view(), name="api_artifact_detail"),
    path("artifacts/<int:pk>/download", views.ArtifactDownloadView.as_view(), name="api_artifact_download"),
    path("audit", views.AuditEventListView.as_view(), name="api_audit_list"),
    path("audit/runs", views.AuditRunListView.as_view(), name="api_audit_runs"),
    path("audit/export.csv", views.AuditExportView.as_view(), name="api_audit_export"),
    path("audit/<int:pk>", views.AuditEventDetailView.as_view(), name="api_audit_detail"),
]
