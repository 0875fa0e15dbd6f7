"""Login throttling with django-axes: the client's address, and what a locked-out login shows.

django-axes counts failed logins per username and per client address (config/settings.py,
AXES_*) and refuses further logins there, the right password included, until the cool-off has
passed. This module gives it the two things that depend on the deployment and the pages:

* ``client_ip``: the address of the client, taken from X-Forwarded-For only as far as our own
  proxies vouch for it (``TRUSTED_PROXY_COUNT``), so a client cannot pick the address it is
  counted under by sending the header itself;
* the login forms of the desk and of the admin show a translated lockout message in place of
  "wrong password", and ``lockout_response`` answers that page with 429.

See docs/security.md ("Login throttling"). Unlocking: the admin's "Access attempts" (delete the
row) or ``manage.py axes_reset_username <name>`` / ``axes_reset_ip <address>`` / ``axes_reset``.
"""

from __future__ import annotations

import ipaddress
import math

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import ngettext


def client_ip(request) -> str:
    """The client's address as our last trusted proxy saw it; REMOTE_ADDR without proxies.

    Each of our ``TRUSTED_PROXY_COUNT`` proxies appends the address it was reached from to
    X-Forwarded-For, so the client is the entry that many places from the right; whatever a
    client wrote further left is its own claim and ignored.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    ]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        return remote  # did not pass through all of our proxies
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def lockout_message() -> str:
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return ngettext(
        "Too many failed logins for this account or from this address. Logging in is paused "
        "until %(minutes)d minute has passed without a failed attempt.",
        "Too many failed logins for this account or from this address. Logging in is paused "
        "until %(minutes)d minutes have passed without a failed attempt.",
        minutes,
    ) % {"minutes": minutes}


class LockoutMessageMixin:
    """An authentication form that says "locked out" instead of "wrong password" when
    django-axes refused (or has just locked) the login."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "axes_locked_out", False):
                raise ValidationError(lockout_message(), code="locked_out") from None
            raise


class DeskAuthenticationForm(LockoutMessageMixin, AuthenticationForm):
    """The desk's /login/ form."""


class DeskAdminAuthenticationForm(LockoutMessageMixin, AdminAuthenticationForm):
    """The admin's /admin/login/ form."""


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page just rendered (with the lockout message), as 429."""
    if original_response is not None and original_response.status_code == 200:
        original_response.status_code = settings.AXES_HTTP_RESPONSE_CODE
        return original_response
    return HttpResponse(
        lockout_message(),
        status=settings.AXES_HTTP_RESPONSE_CODE,
        content_type="text/plain; charset=utf-8",
    )
