"""Logging filters (config/settings.py LOGGING).

Meta's webhook handshake carries the verify token in the query string
(``GET /webhooks/whatsapp/?hub.verify_token=…``), and nothing secret may reach a log line. The
development server (``runserver``, what ``make run`` serves) logs each request line through the
``django.server`` logger: this filter cuts the query string off the webhook's lines. gunicorn's
access log (config/gunicorn.py) and nginx's (deploy/nginx.conf) leave query strings out on their
own.
"""

from __future__ import annotations

import logging
import re

# The path of a request line up to its query string, when the path is under /webhooks/.
WEBHOOK_QUERY = re.compile(r"(/webhooks/[^?\s\"']*)\?[^\s\"']*")


def strip_webhook_query(text: str) -> str:
    return WEBHOOK_QUERY.sub(r"\1", text)


class WebhookQueryStringFilter(logging.Filter):
    """Drops the query string of /webhooks/ URLs from a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = strip_webhook_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                strip_webhook_query(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True
