"""ASGI: the pages over HTTP and the live pages' websockets (realtime/, docs/realtime.md).

Production serves HTTP with gunicorn (config/wsgi.py) and only ``/ws/`` with this application
under uvicorn (Procfile ``ws``, deploy/nginx.conf); ``make run`` serves both from it.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django first: the imports below load models.
django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        # A page of another origin cannot open a socket with the agent's cookie.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
