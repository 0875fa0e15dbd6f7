"""The next due time on the inbox row and the conversation page (one query for a whole page),
the breach and the window deadline shown there, in English and German."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from service_levels import sla
from service_levels.models import SlaTarget
from tests.factories import ConversationFactory
from tests.service_levels.conftest import SlaPolicyFactory

INBOX = reverse("conversations:inbox")


def opened(channel, at):
    conv = ConversationFactory(
        channel=channel, opened_at=at, last_customer_message_at=at, last_activity_at=at
    )
    sla.on_customer_messages({conv.pk: at}, opened=[conv.pk], now=at)
    return conv


def test_rows_and_page_show_the_next_due_time_and_a_breach(client, cast):
    SlaPolicyFactory(channel=cast.channel, first_response=timedelta(hours=2), business_hours=False)
    now = timezone.now()
    fresh = opened(cast.channel, now - timedelta(minutes=10))
    late = opened(cast.channel, now - timedelta(hours=3))
    SlaTarget.objects.filter(conversation=late).update(breached_at=now - timedelta(hours=1))
    client.force_login(cast.viewer)

    html = client.get(INBOX).content.decode()
    row = html.split(f'id="row-{fresh.pk}"')[1].split("</li>")[0]
    assert "SLA due" in row
    due = SlaTarget.objects.get(conversation=fresh, kind="first_response").due_at
    assert f'data-due="{due.isoformat()}"' in row
    late_row = html.split(f'id="row-{late.pk}"')[1].split("</li>")[0]
    assert "SLA breached" in late_row

    page = client.get(reverse("conversations:detail", args=[fresh.pk])).content.decode()
    assert "SLA due" in page

    client.cookies["django_language"] = "de"
    html = client.get(INBOX, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "SLA fällig" in html and "SLA verletzt" in html


def test_one_query_for_every_row_of_the_page(client, cast):
    SlaPolicyFactory(channel=cast.channel, first_response=timedelta(hours=2), business_hours=False)
    now = timezone.now()
    for n in range(3):
        opened(cast.channel, now - timedelta(minutes=n))
    client.force_login(cast.viewer)
    client.get(INBOX)
    with CaptureQueriesContext(connection) as few:
        client.get(INBOX)
    opened(cast.channel, now - timedelta(minutes=5))
    opened(cast.channel, now - timedelta(minutes=6))
    with CaptureQueriesContext(connection) as more:
        client.get(INBOX)
    mine = [q for q in more.captured_queries if "service_levels_slatarget" in q["sql"]]
    assert len(mine) == 1
    assert len(more.captured_queries) == len(few.captured_queries)


def test_the_window_deadline_is_shown_within_the_last_hour(client, cast):
    now = timezone.now()
    conv = opened(cast.channel, now - timedelta(hours=23, minutes=10))
    window = SlaTarget.objects.get(conversation=conv, kind="window")
    assert window.warn_at < now < window.due_at
    SlaTarget.objects.filter(pk=window.pk).update(warned_at=window.warn_at)
    client.force_login(cast.viewer)
    html = client.get(INBOX).content.decode()
    row = html.split(f'id="row-{conv.pk}"')[1].split("</li>")[0]
    assert "Window closes" in row and "reply now" in row


def test_the_history_names_the_sla_alerts(client, cast, django_capture_on_commit_callbacks):
    from service_levels import sweep

    SlaPolicyFactory(channel=cast.channel, first_response=timedelta(hours=1), business_hours=False)
    now = timezone.now()
    conv = opened(cast.channel, now - timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        sweep.sweep(now=now)
    client.force_login(cast.viewer)
    page = client.get(reverse("conversations:detail", args=[conv.pk])).content.decode()
    assert "SLA target missed: first response" in page
    client.cookies["django_language"] = "de"
    page = client.get(reverse("conversations:detail", args=[conv.pk])).content.decode()
    assert "SLA-Ziel verfehlt: erste Antwort" in page
