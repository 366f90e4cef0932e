"""Blueprint pages (mounted at the site root by ``portal/urls.py``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("blueprints/", views.BlueprintListView.as_view(), name="blueprint_list"),
    path("blueprints/<int:pk>/", views.BlueprintDetailView.as_view(), name="blueprint_detail"),
    path(
        "blueprints/<int:pk>/versions/<int:version_pk>/approve/",
        views.BlueprintVersionApproveView.as_view(),
        name="blueprint_version_approve",
    ),
    path(
        "runs/<int:run_id>/save-as-blueprint/",
        views.BlueprintSaveFromRunView.as_view(),
        name="blueprint_save_from_run",
    ),
]
