"""Audit search, its CSV export, the compliance report, saved searches and reports."""

from django.urls import path

from . import audit_views as views

urlpatterns = [
    path("audit/", views.AuditSearchView.as_view(), name="audit_search"),
    path("audit/events/<int:pk>/", views.AuditEventDetailView.as_view(), name="audit_event_detail"),
    path("audit/export.csv", views.AuditExportView.as_view(), name="audit_export"),
    path("audit/compliance/", views.ComplianceReportView.as_view(), name="compliance_report"),
    path("audit/saved/", views.SavedSearchCreateView.as_view(), name="saved_search_create"),
    path("audit/saved/<int:pk>/delete/", views.SavedSearchDeleteView.as_view(), name="saved_search_delete"),
    path("reports/", views.ReportsView.as_view(), name="reports"),
]
