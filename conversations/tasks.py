"""Celery tasks: thin wrappers that take ids, call one service, and own retries.

The tasks import the services; the services never import the tasks, they enqueue them by name
(conversations/jobs.py)."""

import logging

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from conversations import announce_queue, jobs, media, partitions, signals
from conversations.services import autoresolve as autoresolve_service
from conversations.services import inbound_payloads, message_changes, outbound

logger = logging.getLogger(__name__)


class EnqueueOrSweep(Task):
    """A task whose enqueueing never fails its caller: with the broker down, unreachable or
    misconfigured (any exception from publishing: kombu's OperationalError, a missing
    filesystem-broker folder, a bad URL) the work stays recorded in the database and a sweep
    (``sweep_outbound``, ``sweep_media``) enqueues it again once the broker is back. One warning
    line, no traceback: an outage would otherwise write one per request."""

    def apply_async(self, *args, **kwargs):
        try:
            return super().apply_async(*args, **kwargs)
        except Exception as exc:  # any broker failure: the sweep recovers the work
            logger.warning(
                "broker unavailable, %s left for the sweep: %s: %s",
                self.name,
                type(exc).__name__,
                str(exc)[:200],
            )
            return None


@shared_task(
    bind=True,
    base=EnqueueOrSweep,
    name="conversations.tasks.dispatch_message",
    max_retries=None,  # bounded by Message.attempts (outbound.MAX_ATTEMPTS), not by Celery
)
def dispatch_message(self, message_id: int) -> str:
    """Send one queued outbound message; transient errors come back after a jittered backoff.

    Idempotent: a message that is no longer queued is skipped.
    """
    outcome = outbound.dispatch(message_id)
    if outcome.retry_in is not None:
        try:
            raise self.retry(countdown=outcome.retry_in)
        except (OperationalError, OSError, ValueError):
            # The retry could not be published: the row is queued, the sweep picks it up.
            return "left for the sweep"
    return outcome.result


@shared_task(name="conversations.tasks.sweep_outbound")
def sweep_outbound() -> int:
    """Re-enqueue replies stuck in queued or sending (beat, every minute); idempotent."""
    return outbound.sweep_outbound(now=timezone.now())


@shared_task(
    base=EnqueueOrSweep,
    name="conversations.tasks.download_media",
)
def download_media(message_id: int) -> str:
    """Fetch an inbound message's media from the provider into MEDIA_ROOT; idempotent. A
    transient failure is not retried by the broker: the download records when it is due again
    and the media sweep queues it then (conversations.media, docs/composer.md)."""
    return media.download_inbound_media(message_id)


@shared_task(name="conversations.tasks.sweep_media")
def sweep_media() -> int:
    """Queue inbound media downloads that were never queued or were lost (beat, every minute);
    idempotent: each download claims its message, so queueing one twice fetches it once."""
    return media.sweep_media(now=timezone.now())


@shared_task(name="conversations.tasks.autoresolve")
def autoresolve() -> dict:
    """Resolve every conversation past its channel's New/Pending limit (beat, every 15 minutes).

    Idempotent: a second run at once skips on the advisory lock, a later one finds nothing due.
    """
    return autoresolve_service.autoresolve(
        now=timezone.now(),
        batch_size=settings.AUTORESOLVE_BATCH_SIZE,
        workers=settings.AUTORESOLVE_WORKERS,
    ).as_dict()


@shared_task(name="conversations.tasks.erase_deleted_messages")
def erase_deleted_messages() -> dict:
    """Erase the text and files of messages deleted longer ago than the retention (beat, hourly).

    Idempotent: an erased message is not selected again; two runs split the rows (SKIP LOCKED).
    """
    return message_changes.erase_deleted()


@shared_task(base=EnqueueOrSweep, name="conversations.tasks.apply_inbound_payload")
def apply_inbound_payload(payload_id: int) -> str:
    """Apply a large webhook body stored by the webhook, in chunks (docs/whatsapp.md).

    Idempotent: a payload another worker holds, or one already applied, is not claimed.
    """
    return inbound_payloads.apply_payload(payload_id)


@shared_task(name="conversations.tasks.sweep_inbound_payloads")
def sweep_inbound_payloads() -> int:
    """Queue webhook bodies not applied yet (broker down, worker died), drop old applied ones
    (beat, every minute); idempotent."""
    return inbound_payloads.sweep_payloads(now=timezone.now())


@shared_task(name="conversations.tasks.announce", acks_late=False)
def announce(name: str, kwargs: dict) -> None:
    """Run the receivers of one announcement a webhook handed over (the single handover of an
    earlier release, kept so that tasks queued before an upgrade are still run).

    At most once, as in the request it came from (acked on receipt, not redelivered after a
    killed worker): a receiver's work is not all idempotent (a rule's auto-reply)."""
    signals.deliver(name, kwargs)


@shared_task(name="conversations.tasks.announce_batch", acks_late=False)
def announce_batch(batch: list) -> None:
    """Run the receivers of a webhook's announcements (signals.handed_to_worker; without a Redis
    broker, one task per request). At most once, as ``announce``."""
    signals.deliver_batch([(name, kwargs) for name, kwargs in batch])


@shared_task(base=EnqueueOrSweep, name="conversations.tasks.drain_announcements", acks_late=False)
def drain_announcements() -> int:
    """Run the receivers of the webhooks' queued announcements, merged in batches
    (conversations.announce_queue; queued by the request that found no drain queued, and by
    beat as a safety net). At most once, as ``announce``; idempotent: an empty queue is a no-op."""
    if not announce_queue.enabled():
        return 0
    return announce_queue.drain(schedule_drain=jobs.schedule_drain)


@shared_task(name="conversations.tasks.maintain_partitions")
def maintain_partitions() -> dict:
    """Create the message and event partitions of the coming months and drop those past the
    retention (beat, daily; PostgreSQL only). Idempotent: what exists is left alone."""
    result = partitions.maintain(timezone.now())
    return {"created": result.created, "moved": result.moved, "dropped": result.dropped}
