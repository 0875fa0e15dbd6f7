"""Snooze and boomerang: out of the queues until a time, back into New keeping the assignee, at
once when the customer writes; the Pending boomerang; the menu's times; the sweep's batches."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.transports import InboundMessage
from conversations import services
from conversations.models import Conversation, Event
from conversations.services import DomainError
from conversations.services import snooze as snooze_service
from routing import timers
from routing.models import ChannelRouting
from tests.factories import ConversationFactory, ProfileFactory
from tests.routing.conftest import T0

pytestmark = pytest.mark.django_db


def snoozed(cast, until, **kwargs):
    conv = ConversationFactory(channel=cast.channel, **kwargs)
    snooze_service.snooze(conv, until=until, actor=cast.contributor, now=T0)
    conv.refresh_from_db()
    return conv


def test_a_snoozed_conversation_leaves_the_queues_and_wakes_at_its_time(cast):
    conv = snoozed(cast, T0 + timedelta(hours=1), assignee=cast.contributor)
    assert conv.status == Conversation.Status.SNOOZED
    assert conv.snoozed_until == T0 + timedelta(hours=1)
    event = Event.objects.filter(conversation=conv, kind="status_changed").latest("pk")
    assert event.data["to"] == "snoozed" and event.actor == cast.contributor

    assert timers.wake(now=T0 + timedelta(minutes=59)).woken == []
    assert timers.wake(now=T0 + timedelta(hours=1)).woken == [conv.pk]
    conv.refresh_from_db()
    assert conv.status == Conversation.Status.NEW
    assert conv.assignee == cast.contributor  # keeps its assignee
    assert conv.snoozed_until is None
    woke = Event.objects.filter(conversation=conv, kind="status_changed").latest("pk")
    assert woke.data == {"from": "snoozed", "to": "new", "reason": "snooze_ended"}
    assert woke.actor is None


def test_the_snoozed_queue_is_a_tab_of_the_inbox(cast, client):
    conv = snoozed(cast, T0 + timedelta(days=1))
    client.force_login(cast.contributor)
    page = client.get(reverse("conversations:inbox") + "?status=snoozed").content.decode()
    assert "Snoozed" in page
    assert f"/conversations/{conv.pk}/" in page
    new_queue = client.get(reverse("conversations:inbox") + "?status=new").content.decode()
    assert f"/conversations/{conv.pk}/" not in new_queue


def test_a_customer_message_wakes_a_snoozed_conversation_at_once(cast):
    conv = snoozed(cast, T0 + timedelta(days=3), assignee=cast.contributor)
    services.receive_inbound(
        channel=cast.channel,
        message=InboundMessage(
            wa_id=conv.contact.wa_id,
            provider_message_id="wamid.WAKE1",
            sent_at=T0 + timedelta(minutes=5),
            type="text",
            body="Any news?",
        ),
        now=T0 + timedelta(minutes=5),
    )
    conv.refresh_from_db()
    assert conv.status == Conversation.Status.NEW
    assert conv.assignee == cast.contributor
    assert conv.snoozed_until is None
    assert conv.messages.count() == 1  # the same conversation, not a new one
    woke = Event.objects.filter(conversation=conv, kind="status_changed").latest("pk")
    assert woke.data == {"from": "snoozed", "to": "new", "reason": "customer_replied"}


def test_the_pending_default_boomerang_brings_pending_back_into_new(cast):
    ChannelRouting.objects.create(channel=cast.channel, pending_boomerang_after=timedelta(days=2))
    stale = ConversationFactory(
        channel=cast.channel, status="pending", assignee=cast.contributor,
        last_activity_at=T0 - timedelta(days=2, seconds=1),
    )  # fmt: skip
    fresh = ConversationFactory(
        channel=cast.channel, status="pending", last_activity_at=T0 - timedelta(days=1)
    )
    other = ConversationFactory(
        channel=cast.other_channel, status="pending", last_activity_at=T0 - timedelta(days=9)
    )
    assert timers.wake(now=T0).boomeranged == [stale.pk]
    stale.refresh_from_db(), fresh.refresh_from_db(), other.refresh_from_db()
    assert stale.status == "new" and stale.assignee == cast.contributor
    assert fresh.status == "pending" and other.status == "pending"
    event = Event.objects.filter(conversation=stale, kind="status_changed").latest("pk")
    assert event.data == {"from": "pending", "to": "new", "reason": "boomerang"}


def test_after_five_days_without_a_worker_one_sweep_wakes_every_overdue_one_in_batches(cast):
    convs = [snoozed(cast, T0 + timedelta(hours=i + 1)) for i in range(7)]
    summary = timers.wake(now=T0 + timedelta(days=5), batch_size=3)
    assert sorted(summary.woken) == sorted(c.pk for c in convs)
    assert not Conversation.objects.filter(status="snoozed").exists()


def test_snooze_refuses_the_past_a_resolved_conversation_and_viewers_may_triage(cast):
    conv = ConversationFactory(channel=cast.channel)
    with pytest.raises(DomainError):
        snooze_service.snooze(conv, until=T0 - timedelta(minutes=1), actor=None, now=T0)
    with pytest.raises(DomainError):
        snooze_service.snooze(conv, until=T0 + timedelta(days=400), actor=None, now=T0)
    resolved = ConversationFactory(channel=cast.channel, status="resolved")
    with pytest.raises(DomainError):
        snooze_service.snooze(resolved, until=T0 + timedelta(hours=1), actor=None, now=T0)
    # Moving to Snoozed without a time is refused; moving out of it by hand clears the time.
    with pytest.raises(DomainError):
        services.move_conversation(conv, to="snoozed", actor=cast.contributor)
    conv = snoozed(cast, T0 + timedelta(hours=1))
    services.move_conversation(conv, to="pending", actor=cast.contributor)
    conv.refresh_from_db()
    assert conv.status == "pending" and conv.snoozed_until is None


def test_tomorrow_is_nine_in_the_agents_time_zone(cast):
    ProfileFactory(user=cast.contributor, time_zone="Europe/Berlin")
    now = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # Berlin: 29 March 00:30 (DST starts)
    until = timers.until_for("tomorrow", user=cast.contributor, now=now)
    berlin = until.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (berlin.day, berlin.hour, berlin.minute) == (30, 9, 0)
    assert timers.until_for("15m", user=cast.contributor, now=now) == now + timedelta(minutes=15)
    assert timers.until_for("nonsense", user=cast.contributor, now=now) is None


def test_the_snooze_menu_on_the_conversation_page(cast, client):
    conv = ConversationFactory(channel=cast.channel)
    client.force_login(cast.contributor)
    page = client.get(reverse("conversations:detail", args=[conv.pk])).content.decode()
    assert 'id="snooze-menu"' in page and 'value="tomorrow"' in page
    assert "move-snoozed" not in page
    response = client.post(reverse("routing:snooze", args=[conv.pk]), {"choice": "1h"})
    assert response.status_code == 302
    conv.refresh_from_db()
    assert conv.status == "snoozed"
    assert abs(conv.snoozed_until - (timezone.now() + timedelta(hours=1))) < timedelta(minutes=1)
    bad = client.post(reverse("routing:snooze", args=[conv.pk]), {"choice": "custom"})
    assert bad.status_code == 400
    past = client.post(
        reverse("routing:snooze", args=[conv.pk]),
        {"choice": "custom", "until": "2020-01-01T09:00"},
    )
    assert past.status_code == 400 and b"future" in past.content


def test_the_snooze_action_checks_access(cast, client):
    conv = ConversationFactory(channel=cast.other_channel)
    client.force_login(cast.contributor)
    response = client.post(reverse("routing:snooze", args=[conv.pk]), {"choice": "1h"})
    assert response.status_code == 404
    client.force_login(cast.outsider)
    mine = ConversationFactory(channel=cast.channel)
    response = client.post(reverse("routing:snooze", args=[mine.pk]), {"choice": "1h"})
    assert response.status_code == 404
