"""The webhooks' lane through the middleware: a provider's signed POST skips what it never uses.

A webhook is a machine's request: no session, no user, no language, no CSRF token (its view is
exempt and checks the provider's signature instead), no messages, no htmx, no login throttle.
The middleware after this one (sessions, locale, common, CSRF, authentication, time zone,
messages, clickjacking, htmx, axes) cost ~0.15 ms of CPU per request, a tenth of the request
outside the database. So ``config/settings.py`` places this right after
``SecurityMiddleware`` (TLS redirect, HSTS, nosniff, referrer policy: every response keeps them)
and ``AuditContextMiddleware`` (a change a webhook makes, a template's review for one, is
audited as before): a request whose path resolves to a webhook view of a registered medium is
answered by the view from here, with ``Content-Length`` and ``X-Frame-Options`` as the skipped
middleware would have set them. Every other request, and a webhook path that names no medium,
takes the full stack. The view authenticates every POST by the signature as before
(conversations/webhooks.py, docs/security.md).
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.urls import Resolver404, ResolverMatch, resolve, reverse
from django.utils import timezone, translation

from channels_app import transports
from conversations.webhooks import inbound_webhook, whatsapp_webhook


class WebhookLaneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._prefix: str | None = None

    def prefix(self) -> str:
        """``/webhooks/`` (the URLconf's, read once)."""
        if self._prefix is None:
            self._prefix = reverse("webhooks:whatsapp").removesuffix("whatsapp/")
        return self._prefix

    def __call__(self, request):
        if not request.path_info.startswith(self.prefix()):
            return self.get_response(request)
        match = _lane_match(request.path_info)
        if match is None:
            return self.get_response(request)
        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it: a 400 otherwise
        request.resolver_match = match
        # What the skipped LocaleMiddleware and UserTimezoneMiddleware would leave active for a
        # request without a language or a user (an earlier request of this thread may have
        # activated another): the receivers this request may run render with them.
        translation.activate(settings.LANGUAGE_CODE)
        timezone.deactivate()
        response = match.func(request, *match.args, **match.kwargs)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response


@functools.lru_cache(maxsize=64)
def _lane_match(path: str) -> ResolverMatch | None:
    """The URL match of a webhook path of a registered medium, else None (resolving through the
    whole URLconf cost more than the rest of the lane; the paths a provider posts to are few)."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    if match.func is whatsapp_webhook or (
        match.func is inbound_webhook and match.kwargs.get("kind") in transports.kinds()
    ):
        return match
    return None
