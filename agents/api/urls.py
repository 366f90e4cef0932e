from django.urls import path

from . import tool_views, views

urlpatterns = [
    path("nl/intent", views.IntentView.as_view(), name="api_nl_intent"),
    path("ops/run", tool_views.OpsRunView.as_view(), name="api_ops_run"),
    path("ops/status", tool_views.OpsStatusView.as_view(), name="api_ops_status"),
    path("ops/cancel", tool_views.OpsCancelView.as_view(), name="api_ops_cancel"),
]
