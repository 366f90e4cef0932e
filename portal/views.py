from django.db import connection
from django.http import JsonResponse
from django.views.generic import TemplateView

from runs.models import AuditEvent

from .mixins import TenantMixin


class DashboardView(TenantMixin, TemplateView):
    template_name = "portal/dashboard.html"

    def get_context_data(self, **kwargs):
        recent = (
            AuditEvent.objects.for_user(self.request.user, "audit.view")
            .filter(tenant=self.tenant)
            .select_related("actor")[:15]
        )
        return super().get_context_data(recent_events=recent, **kwargs)


def healthz(request):
    """Liveness plus a database round trip, for load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
