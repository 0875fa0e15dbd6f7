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


@pytest.mark.django_db
def test_the_demos_failed_reply_carries_metas_code_and_is_no_first_response():
    from django.utils import translation

    from conversations.templatetags.desk import failure_text

    call_command("seed_demo")
    failed = Message.objects.get(delivery=Message.Delivery.FAILED)
    assert failed.failure_code == 131047
    assert failed.conversation.first_response_at is None
    with translation.override("de"):
        assert failure_text(failed) == (
            "Das 24-Stunden-Kundenservicefenster ist geschlossen: Nur eine genehmigte Vorlage "
            "kann gesendet werden. (WhatsApp-Fehler 131047)"
        )
