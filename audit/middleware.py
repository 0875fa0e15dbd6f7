"""Sets the audit context of each request: its user (read lazily), client address and source."""

from __future__ import annotations

from django.urls import reverse

from audit.context import AuditContext, acting
from channels_app.login_throttle import client_ip


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._admin_prefix = None

    def _source(self, path: str) -> str:
        if self._admin_prefix is None:
            self._admin_prefix = reverse("admin:index")
        if path.startswith(self._admin_prefix):
            return "admin"
        if path.startswith("/api/"):
            return "api"
        return "web"

    def __call__(self, request):
        context = AuditContext(
            source=self._source(request.path_info),
            request=request,
            remote_addr=client_ip(request) or None,
        )
        with acting(context):
            return self.get_response(request)
