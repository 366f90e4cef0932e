"""ASGI entry point: the Django portal, with the MCP server's streamable HTTP endpoint mounted at /mcp.

Serve it with uvicorn (lifespan on, the default): the MCP session manager starts with the lifespan.
"""

import os
import warnings

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

from agents.mcp.http import McpMount  # noqa: E402  (needs the apps loaded by get_asgi_application)

application = McpMount(django_application)

# whitenoise serves static files from a synchronous iterator; under ASGI that is expected and harmless.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")
