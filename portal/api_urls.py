"""Everything under /api/: the versioned REST API, its OpenAPI schema and the interactive reference.

Unknown paths under /api/ answer 404 in the API's error format."""

from django.urls import include, path, re_path
from django.views.generic import TemplateView
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from portal.api.errors import not_found_view


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 document, JSON by default (`?format=yaml` for YAML). Public: it holds no data."""

    renderer_classes = [OpenApiJsonRenderer, OpenApiYamlRenderer]
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []


v1 = [
    path("", include("tenants.api.urls")),
    path("", include("agents.api.urls")),
    path("", include("runs.api.urls")),
    path("", include("blueprints.api.urls")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SchemaView.as_view(), name="api_schema"),
    path("docs/", TemplateView.as_view(template_name="api/docs.html"), name="api_docs"),
    re_path(r"^.*$", not_found_view),
]
