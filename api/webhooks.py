"""Outgoing webhooks: desk events written to an outbox, delivered signed, retried with backoff.

Each event becomes one ``WebhookDelivery`` row per matching subscription, due at once. The beat
job (``api.tasks.deliver_webhooks``, every API_WEBHOOK_SWEEP_EVERY_S) and a task queued right
after the rows are written call ``deliver_due``: it leases a batch of due rows (moving their due
time forward, so a dead worker's rows come back), posts each, and marks it delivered or moves
its due time by the backoff. No broker-delayed task: the due time is the timer.

Signature (docs/api.md): ``X-Desk-Signature: t=<unix time>,v1=<hex>``, where ``hex`` is
HMAC-SHA256 with the subscription's secret over ``"<t>.<raw body>"``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from api import egress
from api.models import WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

EventType = WebhookSubscription.EventType
LEASE = timedelta(seconds=120)
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 3600
SIGNATURE_HEADER = "X-Desk-Signature"
# Delivered and given-up rows are kept this long (the admin's list of recent deliveries).
KEEP_FINISHED = timedelta(days=7)


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 30 s, 60 s, 2 min, … at most an hour."""
    return timedelta(seconds=min(BACKOFF_BASE_S * 2 ** max(0, attempts - 1), BACKOFF_MAX_S))


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300, now=None) -> bool:
    """What an integrator checks (and the tests do): a valid, recent signature."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    now = int(now if now is not None else time.time())
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


# --- writing events ----------------------------------------------------------------------------


def subscriptions_for(channel_id: int, event_type: str) -> list[WebhookSubscription]:
    subscriptions = WebhookSubscription.objects.filter(
        is_active=True, token__revoked_at__isnull=True, token__channels=channel_id
    ).distinct()
    return [s for s in subscriptions if not s.events or event_type in s.events]


def enqueue(events: Iterable[tuple[int, str, dict]], *, now: datetime | None = None) -> int:
    """Write a delivery per (channel id, event type, data) and matching subscription."""
    now = now or timezone.now()
    rows = []
    for channel_id, event_type, data in events:
        event_id = str(uuid.uuid4())
        for subscription in subscriptions_for(channel_id, event_type):
            payload = {
                "id": event_id,
                "type": event_type,
                "created_at": now.isoformat(),
                "channel_id": channel_id,
                "data": data,
            }
            rows.append(
                WebhookDelivery(
                    subscription=subscription, event_type=event_type, payload=payload,
                    due_at=now, created_at=now,
                )
            )
    if rows:
        WebhookDelivery.objects.bulk_create(rows)
    return len(rows)


# --- delivering --------------------------------------------------------------------------------


def _lease(now: datetime, batch_size: int) -> list[WebhookDelivery]:
    with transaction.atomic():
        due = WebhookDelivery.objects.filter(
            state=WebhookDelivery.State.PENDING, due_at__lte=now
        ).order_by("due_at")
        if connection_supports_skip_locked():
            due = due.select_for_update(skip_locked=True)
        batch = list(due.select_related("subscription")[:batch_size])
        if batch:
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in batch]).update(
                due_at=now + LEASE
            )
    return batch


def connection_supports_skip_locked() -> bool:
    return connection.features.has_select_for_update_skip_locked


def _post(client: httpx.Client, delivery: WebhookDelivery) -> tuple[int | None, str, bool]:
    """Post one delivery: (HTTP status, error or "", whether the error is final)."""
    try:
        destination = egress.resolve(delivery.subscription.url)
    except egress.RefusedDestination as refusal:
        return None, f"refused: {refusal}"[:300], True
    except egress.Unresolvable:
        return None, "DNS: the host does not resolve", False
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "messaging-desk-webhooks/1",
        "X-Desk-Event": delivery.event_type,
        "X-Desk-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: sign(delivery.subscription.secret, body, int(time.time())),
        # The connection goes to the vetted address; the receiver sees its own name.
        "Host": destination.host_header,
    }
    extensions = {"sni_hostname": destination.sni_hostname} if destination.sni_hostname else {}
    try:
        response = client.post(
            destination.url, content=body, headers=headers, extensions=extensions
        )
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}"[:300], False
    if 200 <= response.status_code < 300:
        return response.status_code, "", False
    if response.is_redirect:  # never followed: the Location could be anywhere
        return response.status_code, f"HTTP {response.status_code} (redirect not followed)", False
    return response.status_code, f"HTTP {response.status_code}", False


def deliver_due(*, now: datetime | None = None, batch_size: int | None = None) -> dict:
    """Post every due delivery once; returns counts of delivered, retrying and given up."""
    now = now or timezone.now()
    batch = _lease(now, batch_size or settings.API_WEBHOOK_BATCH_SIZE)
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    if not batch:
        return counts
    with httpx.Client(timeout=settings.API_WEBHOOK_TIMEOUT_S, follow_redirects=False) as client:
        for delivery in batch:
            status, error, final = _post(client, delivery)
            attempts = delivery.attempts + 1
            update = {"attempts": attempts, "last_status": status, "last_error": error}
            if not error:
                update.update(
                    state=WebhookDelivery.State.DELIVERED, due_at=None, delivered_at=timezone.now()
                )
                counts["delivered"] += 1
            elif final or attempts >= settings.API_WEBHOOK_MAX_ATTEMPTS:
                update.update(state=WebhookDelivery.State.FAILED, due_at=None)
                counts["failed"] += 1
                log.warning(
                    "webhook delivery %s to subscription %s given up after %s attempts (%s)",
                    delivery.pk, delivery.subscription_id, attempts, error,
                )  # fmt: skip
            else:
                update["due_at"] = now + backoff(attempts)
                counts["retrying"] += 1
            WebhookDelivery.objects.filter(pk=delivery.pk).update(**update)
    return counts


def prune_finished(*, now: datetime | None = None) -> int:
    """Delete deliveries delivered or given up longer than KEEP_FINISHED ago."""
    cutoff = (now or timezone.now()) - KEEP_FINISHED
    return WebhookDelivery.objects.filter(
        due_at__isnull=True, created_at__lt=cutoff
    ).delete()[0]


# --- subscriptions -----------------------------------------------------------------------------


class BadSubscription(ValueError):
    """A subscription the desk refuses; the message says why."""


@transaction.atomic
def subscribe(token, *, url: str, events: list[str]) -> tuple[WebhookSubscription, str]:
    """A new subscription of ``token``'s channels' events; returns it and its signing secret."""
    if WebhookSubscription.objects.filter(token=token, is_active=True).count() >= 10:
        raise BadSubscription(_("A token can have at most 10 webhook subscriptions."))
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription = WebhookSubscription(token=token, url=url, events=events, secret=secret)
    subscription.full_clean()  # the URL: https, a public host (api.egress via the model)
    subscription.save()
    return subscription, secret


@transaction.atomic
def unsubscribe(subscription: WebhookSubscription) -> None:
    """Delete the subscription; deliveries not yet made go with it."""
    subscription.delete()
