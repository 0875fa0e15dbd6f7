"""Issue 21, item 2: media downloads that were never queued are swept, each downloaded once.

What the sweep picks (one second either side of each boundary), Meta's 7-day media lifetime,
claims that keep two downloads or two sweeps apart (SKIP LOCKED on PostgreSQL).
"""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection, transaction
from django.utils import timezone, translation

from config.celery import app
from conversations import media, queries
from conversations.checks import check_media_claim_timeout
from conversations.models import Message
from conversations.templatetags import desk
from tests.factories import ConversationFactory, MessageFactory
from tests.whatsapp.recorder import Answer, Recorder

NOW = timezone.now()
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def inbound_media(*, age, kind=Message.Type.IMAGE, **payload):
    at = NOW - age
    return MessageFactory(
        conversation=ConversationFactory(),
        type=kind,
        body="",
        payload={"media_id": "1043820517000001", "mime_type": "image/png", **payload},
        created_at=at,
        sent_at=at,
    )


def swept(now=NOW):
    queued = []
    media.sweep_media(now=now, enqueue=queued.append)
    return queued


@pytest.mark.django_db
def test_media_is_swept_one_minute_after_it_arrived_not_before():
    young = inbound_media(age=media.SWEEP_AFTER - SECOND)
    old = inbound_media(age=media.SWEEP_AFTER + SECOND)
    assert swept() == [old.pk]
    assert young.pk not in swept(NOW + SECOND)


@pytest.mark.django_db
def test_downloaded_failed_and_non_media_messages_are_never_swept():
    inbound_media(age=timedelta(hours=1), file="whatsapp/1/1.png")
    inbound_media(age=timedelta(hours=1), download_error="checksum mismatch")
    MessageFactory(created_at=NOW - timedelta(hours=1))  # a text
    out = inbound_media(age=timedelta(hours=1))
    Message.objects.filter(pk=out.pk).update(direction=Message.Direction.OUTBOUND)
    assert swept() == []


@pytest.mark.django_db
def test_media_from_the_business_app_is_swept_the_desks_own_uploads_never():
    echo = inbound_media(age=timedelta(hours=1))
    Message.objects.filter(pk=echo.pk).update(
        direction=Message.Direction.OUTBOUND, via=Message.Via.BUSINESS_APP
    )
    own = inbound_media(age=timedelta(hours=1))
    Message.objects.filter(pk=own.pk).update(direction=Message.Direction.OUTBOUND)
    assert swept() == [echo.pk]


@pytest.mark.django_db
def test_media_past_metas_7_days_is_marked_failed_with_the_reason_not_queued():
    within = inbound_media(age=media.MEDIA_LIFETIME - SECOND)
    expired = inbound_media(age=media.MEDIA_LIFETIME + SECOND)
    assert swept() == [within.pk]
    expired.refresh_from_db()
    assert expired.payload["download_error"] == media.EXPIRED_REASON
    assert swept(NOW + timedelta(hours=1)) == []  # failed now: never again


@pytest.mark.django_db
def test_a_swept_message_is_not_queued_again_until_its_claim_times_out(settings):
    message = inbound_media(age=timedelta(hours=1))
    assert swept() == [message.pk]
    assert swept(NOW + SECOND) == []  # a second sweep at once: already queued
    timeout = settings.MEDIA_DOWNLOAD_CLAIM_TIMEOUT
    assert swept(NOW + timeout - SECOND) == []
    assert swept(NOW + timeout + SECOND) == [message.pk]  # the task was lost: queue it again


@pytest.mark.django_db
def test_a_live_download_is_left_alone_and_a_dead_one_taken_back(settings):
    timeout = settings.MEDIA_DOWNLOAD_CLAIM_TIMEOUT
    live = inbound_media(
        age=timedelta(hours=1), download_started_at=(NOW - timeout + SECOND).isoformat()
    )
    dead = inbound_media(
        age=timedelta(hours=1), download_started_at=(NOW - timeout - SECOND).isoformat()
    )
    assert swept() == [dead.pk]
    assert live.pk not in swept()


@pytest.fixture
def graph(settings):
    server = Recorder().start()
    settings.WHATSAPP_GRAPH_URL = f"{server.url}/v23.0"
    settings.WHATSAPP_MEDIA_HOSTS = [server.url]
    yield server
    server.stop()


@pytest.mark.django_db
def test_a_download_another_task_holds_is_not_fetched_twice(graph):
    message = inbound_media(age=timedelta(minutes=5), download_started_at=NOW.isoformat())
    assert media.download_inbound_media(message.pk, now=NOW + SECOND) == "nothing to do"
    assert graph.requests == []


@pytest.mark.django_db
def test_a_transient_failure_releases_the_claim_for_the_retry(graph):
    """Not a broker-delayed retry: the attempt is counted and the sweep's due time set."""
    graph.default = Answer(503, b'{"error": {"code": 2, "message": "down"}}', {})
    message = inbound_media(age=timedelta(minutes=5))
    assert media.download_inbound_media(message.pk, now=NOW) == "retry"
    message.refresh_from_db()
    assert "download_started_at" not in message.payload
    assert "download_error" not in message.payload
    assert message.payload["download_attempts"] == 1
    assert message.media_due_at == NOW + media.retry_delay(1)
    assert len(graph.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_never_queue_the_same_message(on_postgres):
    """A sweep holding its rows (in its transaction) makes the other skip them: SKIP LOCKED."""
    messages = [inbound_media(age=timedelta(hours=1)) for _ in range(4)]
    locked = threading.Event()
    release = threading.Event()

    def first_sweep_holding_two_rows():
        try:
            with transaction.atomic():
                list(
                    Message.objects.select_for_update()
                    .filter(pk__in=[m.pk for m in messages[:2]])
                    .values_list("pk", flat=True)
                )
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=first_sweep_holding_two_rows)
    holder.start()
    assert locked.wait(10)
    try:
        assert sorted(swept()) == sorted(m.pk for m in messages[2:])
    finally:
        release.set()
        holder.join()
    assert sorted(swept()) == sorted(m.pk for m in messages[:2])


@pytest.mark.django_db
def test_an_expired_download_says_why_in_english_and_german():
    message = inbound_media(age=timedelta(days=8))
    assert swept() == []
    message.refresh_from_db()
    for language, lead, reason in (
        ("en", "The attachment could not be downloaded:", "WhatsApp keeps media for 7 days"),
        ("de", "Der Anhang konnte nicht heruntergeladen werden:", "WhatsApp bewahrt Medien"),
    ):
        with translation.override(language):
            page = queries.thread_page(message.conversation, size=5)
            shown = desk.thread_items(page.items, "/c/1/messages/", ())
        assert lead in shown and reason in shown


def test_the_sweep_runs_every_minute_and_its_claim_outlasts_any_download(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-media"]
    assert entry["task"] == "conversations.tasks.sweep_media" in app.tasks
    assert entry["schedule"] == timedelta(minutes=1)
    assert check_media_claim_timeout() == []
    settings.MEDIA_DOWNLOAD_CLAIM_TIMEOUT = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    [error] = check_media_claim_timeout()
    assert error.id == "conversations.E002"
    with pytest.raises(SystemCheckError, match=r"conversations\.E002"):
        call_command("check")
