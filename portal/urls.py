from django.contrib import admin
from django.urls import include, path

from . import views

admin.site.site_header = "Gantry platform administration"
admin.site.site_title = "Gantry admin"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("tenants.urls")),
    path("", include("agents.urls")),
    path("", include("runs.urls_pages")),
    path("", include("runs.urls_audit")),
    path("", include("blueprints.urls")),
    path("api/", include("portal.api_urls")),
]
