import os
import warnings

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_asgi_application()

# whitenoise serves static files from a synchronous iterator; under ASGI that is expected and harmless.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")
