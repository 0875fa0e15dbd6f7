"""seed_demo's conversation part: each queue has something, and a second run changes nothing."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.models import Conversation, Event, Message, Note


@pytest.mark.django_db
def test_seed_demo_fills_every_queue_and_is_idempotent(settings):
    call_command("seed_demo")
    counts = (
        Conversation.objects.count(),
        Message.objects.count(),
        Note.objects.count(),
        Event.objects.count(),
    )
    call_command("seed_demo")

    assert counts == (
        Conversation.objects.count(),
        Message.objects.count(),
        Note.objects.count(),
        Event.objects.count(),
    )
    statuses = set(Conversation.objects.values_list("status", flat=True))
    assert statuses == {"new", "pending", "resolved"}
    assert Conversation.objects.values("channel").distinct().count() == 2
    now = timezone.now()
    closed = [
        c
        for c in Conversation.objects.filter(status__in=Conversation.OPEN)
        if not c.is_window_open(now, margin=settings.WHATSAPP_WINDOW_SAFETY_MARGIN)
    ]
    assert len(closed) == 1
    lukas = Conversation.objects.filter(contact__wa_id="4917612345002")
    assert sorted(lukas.values_list("status", flat=True)) == ["new", "resolved"]
