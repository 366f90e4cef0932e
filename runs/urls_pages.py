"""Run pages, their actions, artifact downloads and the approval queue."""

from django.urls import path

from . import views

urlpatterns = [
    path("runs/", views.RunListView.as_view(), name="run_list"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run_detail"),
    path("runs/<int:pk>/approve", views.RunApproveView.as_view(), name="run_approve"),
    path("runs/<int:pk>/reject", views.RunRejectView.as_view(), name="run_reject"),
    path("runs/<int:pk>/cancel", views.RunCancelView.as_view(), name="run_cancel"),
    path("runs/<int:pk>/discard", views.RunDiscardView.as_view(), name="run_discard"),
    path("runs/<int:pk>/replan", views.RunReplanView.as_view(), name="run_replan"),
    path("runs/<int:pk>/follow-up", views.RunFollowUpView.as_view(), name="run_follow_up"),
    path("runs/<int:pk>/apply", views.RunRequestApplyView.as_view(), name="run_request_apply"),
    path("runs/<int:pk>/destroy", views.RunDestroyView.as_view(), name="run_destroy"),
    path("runs/<int:pk>/reconcile", views.RunReconcileView.as_view(), name="run_reconcile"),
    path("runs/<int:pk>/answer", views.RunAnswerView.as_view(), name="run_answer_clarification"),
    path(
        "runs/<int:pk>/force-unlock", views.WorkspaceForceUnlockView.as_view(), name="workspace_force_unlock"
    ),
    path("artifacts/<int:pk>/download", views.ArtifactDownloadView.as_view(), name="artifact_download"),
    path("approvals/", views.ApprovalQueueView.as_view(), name="approval_queue"),
]
