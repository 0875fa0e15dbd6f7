"""Issue 21 (items 3-6): edits, deletions, echoes from the WhatsApp Business app, imported
history and system messages, each delivered as Meta's signed webhook fixture
(tests/fixtures/whatsapp/corpus/d21_*.json) through the real endpoint. Runs on SQLite and on
PostgreSQL (where a lone customer message takes the one-statement path)."""

import json
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from channels_app.access import Role
from channels_app.whatsapp import webhooks
from conversations import queries
from conversations.models import Contact, Conversation, Event, Message, ParkedChange
from conversations.services import message_changes
from tests.factories import ChannelFactory, GrantFactory, UserFactory
from tests.whatsapp.conftest import APP_SECRET, FIXTURES, post_signed

CORPUS = FIXTURES / "corpus"
PNID = "109876543210987"
CUSTOMER = "15555550123"
ORIG_TEXT = "wamid.HBgLMTU1NTU1NTUwMTIzFQIAEhgUM0VCMEQ2RjFBMjE0MDAwMDAwMDEA"
ORIG_IMAGE = "wamid.HBgLMTU1NTU1NTUwMTIzFQIAEhgUM0VCMEQ2RjFBMjE0MDAwMDAwMDIA"
ECHO_TEXT = "wamid.HBgLMTU1NTU1NTUwMTIzFQIAERgSRUNITzAwMDAwMDAwMDAwMQA="
ECHO_IMAGE = "wamid.HBgLMTU1NTU1NTUwMTIzFQIAERgSRUNITzAwMDAwMDAwMDAwMgA="
PLACEHOLDER = "wamid.HBgLMTU1NTU1NTUwMTIzFQIAERgSSElTVDAwMDAwMDAwMDAwMgA="


def corpus(name: str) -> bytes:
    return (CORPUS / f"{name}.json").read_bytes()


@pytest.fixture
def channel(db):
    return ChannelFactory(phone_number_id=PNID)


@pytest.fixture(autouse=True)
def _signed(settings):
    settings.WHATSAPP_APP_SECRET = APP_SECRET


@pytest.fixture(autouse=True)
def _no_task_publishing(monkeypatch):
    """Count the after-commit enqueues instead of publishing them (the broker is not the
    subject here); a reply that would be sent shows up in ``sent``."""
    from conversations.tasks import dispatch_message, download_media

    calls = {"sent": [], "downloads": []}
    monkeypatch.setattr(dispatch_message, "delay", calls["sent"].append)
    monkeypatch.setattr(download_media, "delay", calls["downloads"].append)
    return calls


def deliver(client, *names):
    for name in names:
        response = post_signed(client, corpus(name))
        assert response.status_code == 200, response.content
    return response


def page(client, user, conversation, lang="en"):
    client.force_login(user)
    url = reverse("conversations:detail", args=[conversation.pk])
    return client.get(url, HTTP_ACCEPT_LANGUAGE=lang).content.decode()


def people(channel):
    supervisor = UserFactory(username="sam_supervisor")
    contributor = UserFactory(username="cleo_contributor")
    GrantFactory(channel=channel, user=supervisor, role=Role.SUPERVISOR)
    GrantFactory(channel=channel, user=contributor, role=Role.CONTRIBUTOR)
    return supervisor, contributor


# --- the corpus parses ------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CORPUS.glob("d21_*.json")), ids=lambda p: p.stem)
def test_every_issue_21_fixture_parses_without_an_unreadable_or_skipped_event(path):
    events = webhooks.parse(path.read_bytes())
    assert events
    for event in events:
        assert not isinstance(event, webhooks.Skipped)
        assert getattr(event, "type", "") != "unreadable", event


# --- edits ------------------------------------------------------------------------------------


def test_customer_edit_shows_the_new_text_marked_edited_with_the_old_one_kept(client, channel):
    deliver(client, "d21_original_text", "d21_edit_text")
    message = Message.objects.get(provider_message_id=ORIG_TEXT)
    assert message.body == "My order number is 4471, not 4417"
    assert message.edited_at is not None
    assert [v["body"] for v in message.payload["versions"]] == [
        "My order number is 4417",
        "My order number is 4471, not 4417",
    ]
    assert message.conversation.last_message_preview == "My order number is 4471, not 4417"
    assert Message.objects.count() == 1  # the edit itself is no blank row

    _supervisor, contributor = people(channel)
    html = page(client, contributor, message.conversation)
    assert "My order number is 4471, not 4417" in html
    assert '<summary title="Earlier versions">edited</summary>' in html
    assert "My order number is 4417</bdi></li>" in html
    assert ">bearbeitet</summary>" in page(client, contributor, message.conversation, "de")


def test_a_redelivered_edit_changes_nothing(client, channel):
    deliver(client, "d21_original_text", "d21_edit_text", "d21_edit_text")
    message = Message.objects.get(provider_message_id=ORIG_TEXT)
    assert len(message.payload["versions"]) == 2


def test_an_edit_that_arrives_before_its_original_is_applied_when_it_arrives(client, channel):
    deliver(client, "d21_edit_text")
    assert not Message.objects.exists()
    assert ParkedChange.objects.filter(target_provider_id=ORIG_TEXT).count() == 1
    deliver(client, "d21_edit_text")  # redelivered while parked: parked once
    assert ParkedChange.objects.count() == 1

    deliver(client, "d21_original_text")
    message = Message.objects.get(provider_message_id=ORIG_TEXT)
    assert message.body == "My order number is 4471, not 4417"
    assert message.payload["versions"][0]["body"] == "My order number is 4417"
    assert not ParkedChange.objects.exists()


def test_an_image_edit_changes_its_caption_and_keeps_the_file(client, channel):
    deliver(client, "d21_original_image", "d21_edit_image_caption")
    message = Message.objects.get(provider_message_id=ORIG_IMAGE)
    assert message.type == Message.Type.IMAGE
    assert message.body == message.payload["caption"] == "the dent, photo 1 (left door)"
    assert message.payload["media_id"] == "1043820517731956"


def test_edits_delivered_out_of_order_end_on_the_latest(channel):
    now = timezone.now()
    message = Message.objects.create(
        conversation=Conversation.objects.create(
            channel=channel, contact=Contact.objects.create(wa_id=CUSTOMER),
            opened_at=now, last_activity_at=now,
        ),
        channel=channel, direction=Message.Direction.INBOUND, body="v1",
        provider_message_id="wamid.V1", created_at=now, sent_at=now,
    )  # fmt: skip
    later, earlier = now + timedelta(minutes=2), now + timedelta(minutes=1)
    message_changes.apply_edit(message, change_id="wamid.V3", body="v3", sent_at=later, now=now)
    message_changes.apply_edit(message, change_id="wamid.V2", body="v2", sent_at=earlier, now=now)
    message.refresh_from_db()
    assert message.body == "v3"
    assert [v["body"] for v in message.payload["versions"]] == ["v1", "v2", "v3"]


# --- deletions --------------------------------------------------------------------------------


def test_a_deletion_hides_the_text_from_agents_and_keeps_it_for_supervisors(client, channel):
    deliver(client, "d21_original_text", "d21_revoke")
    message = Message.objects.get(provider_message_id=ORIG_TEXT)
    assert message.revoked_at is not None
    assert message.body == "My order number is 4417"  # kept, for Supervisors
    assert message.conversation.last_message_preview == message_changes.DELETED_PREVIEW

    supervisor, contributor = people(channel)
    seen = page(client, contributor, message.conversation)
    assert "Deleted by the customer" in seen
    assert "4417" not in seen
    assert "Vom Kunden gelöscht" in page(client, contributor, message.conversation, "de")
    kept = page(client, supervisor, message.conversation)
    assert "Deleted by the customer" in kept
    assert "<del>" in kept and "My order number is 4417" in kept
    assert "kept for Supervisors until" in kept


def test_a_deletion_before_its_original_is_applied_when_it_arrives(client, channel):
    deliver(client, "d21_revoke", "d21_original_text")
    message = Message.objects.get(provider_message_id=ORIG_TEXT)
    assert message.revoked_at is not None
    deliver(client, "d21_revoke")  # redelivered: still one deletion, nothing parked
    assert not ParkedChange.objects.exists()


def test_the_erase_job_removes_text_versions_and_file_after_the_retention(channel, settings):
    settings.DELETED_MESSAGE_RETENTION = timedelta(days=30)
    now = timezone.now()
    conversation = Conversation.objects.create(
        channel=channel, contact=Contact.objects.create(wa_id=CUSTOMER),
        opened_at=now, last_activity_at=now,
    )  # fmt: skip
    path = default_storage.save("whatsapp/test/erase-me.jpg", ContentFile(b"jpeg"))

    def deleted(wamid, days_ago, **fields):
        return Message.objects.create(
            conversation=conversation, channel=channel, direction=Message.Direction.INBOUND,
            provider_message_id=wamid, created_at=now, sent_at=now,
            revoked_at=now - timedelta(days=days_ago), **fields,
        )  # fmt: skip

    old = deleted(
        "wamid.OLD", 31, type=Message.Type.IMAGE, body="photo",
        payload={"media_id": "1", "file": path, "caption": "photo", "versions": [{"body": "x"}]},
    )  # fmt: skip
    young = deleted("wamid.YOUNG", 29, body="still kept")
    # One second either side of the boundary.
    just_due = deleted("wamid.DUE", 30, body="due")
    Message.objects.filter(pk=just_due.pk).update(
        revoked_at=now - timedelta(days=30, seconds=1)
    )
    Message.objects.filter(pk=young.pk).update(revoked_at=now - timedelta(days=30, seconds=-1))

    result = message_changes.erase_deleted(now=now, batch_size=1)
    assert result["erased"] == 2
    old.refresh_from_db()
    young.refresh_from_db()
    assert old.body == "" and old.erased_at == now
    assert "file" not in old.payload and "versions" not in old.payload
    assert old.payload["media_id"] == "1"
    assert young.body == "still kept" and young.erased_at is None
    assert message_changes.erase_deleted(now=now)["erased"] == 0  # idempotent


def test_erased_file_is_removed_from_storage_after_commit(
    channel, django_capture_on_commit_callbacks
):
    now = timezone.now()
    conversation = Conversation.objects.create(
        channel=channel, contact=Contact.objects.create(wa_id=CUSTOMER),
        opened_at=now, last_activity_at=now,
    )  # fmt: skip
    path = default_storage.save("whatsapp/test/erase-me-too.jpg", ContentFile(b"jpeg"))
    Message.objects.create(
        conversation=conversation, channel=channel, direction=Message.Direction.INBOUND,
        type=Message.Type.IMAGE, payload={"file": path}, provider_message_id="wamid.F",
        created_at=now, revoked_at=now - timedelta(days=40),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        message_changes.erase_deleted(now=now)
    assert not default_storage.exists(path)


# --- echoes from the WhatsApp Business app ----------------------------------------------------


def test_an_echo_is_the_desks_reply_from_the_app_and_is_never_sent(
    client, channel, _no_task_publishing
):
    deliver(client, "d21_original_text", "d21_echo_text", "d21_echo_text")
    echo = Message.objects.get(provider_message_id=ECHO_TEXT)
    assert echo.direction == Message.Direction.OUTBOUND
    assert echo.via == Message.Via.BUSINESS_APP
    assert echo.delivery == Message.Delivery.SENT
    assert echo.author is None
    assert _no_task_publishing["sent"] == []  # nothing dispatched, ever
    conversation = echo.conversation
    customer = Message.objects.get(provider_message_id=ORIG_TEXT)
    assert conversation == customer.conversation  # the open conversation goes on
    assert conversation.status == Conversation.Status.NEW
    assert conversation.first_response_at == echo.created_at  # a reply for the reports
    assert conversation.last_customer_message_at == customer.sent_at  # the window is untouched
    assert echo.sent_outside_window is False
    assert Message.objects.filter(provider_message_id=ECHO_TEXT).count() == 1

    _supervisor, contributor = people(channel)
    assert "sent from the WhatsApp Business app" in page(client, contributor, conversation)
    assert "aus der WhatsApp-Business-App gesendet" in page(client, contributor, conversation, "de")


def test_an_echo_to_a_customer_without_an_open_conversation_opens_one_in_pending(client, channel):
    deliver(client, "d21_echo_text")
    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.PENDING
    assert conversation.last_customer_message_at is None  # no window: only a template may go
    assert conversation.messages.get().sent_outside_window is True


def test_echo_media_edit_and_deletion(client, channel, _no_task_publishing):
    deliver(client, "d21_echo_text", "d21_echo_image", "d21_echo_edit", "d21_echo_revoke")
    text = Message.objects.get(provider_message_id=ECHO_TEXT)
    image = Message.objects.get(provider_message_id=ECHO_IMAGE)
    assert text.body.endswith("your parcel leaves tomorrow.")
    assert text.edited_at is not None
    assert image.type == Message.Type.IMAGE and image.revoked_at is not None
    assert Message.objects.count() == 2

    _supervisor, contributor = people(channel)
    html = page(client, contributor, text.conversation)
    assert "Deleted in the WhatsApp Business app" in html


# --- history ----------------------------------------------------------------------------------


def test_history_is_imported_once_as_resolved_past_conversations(client, channel):
    deliver(client, "d21_history_threads", "d21_history_threads")
    assert Message.objects.filter(via=Message.Via.HISTORY).count() == 4
    assert not Conversation.objects.filter(status__in=Conversation.OPEN).exists()
    dana = Conversation.objects.get(contact__wa_id=CUSTOMER)
    directions = list(dana.messages.order_by("created_at").values_list("direction", flat=True))
    assert directions == ["out", "out", "in"]
    assert dana.opened_at == dana.messages.order_by("created_at").first().sent_at
    assert dana.messages.filter(delivery=Message.Delivery.READ).count() == 2
    assert Contact.objects.count() == 2

    deliver(client, "d21_history_media", "d21_history_media")
    placeholder = Message.objects.get(provider_message_id=PLACEHOLDER)
    assert placeholder.type == Message.Type.IMAGE
    assert placeholder.body == "Black Prince echeveria"
    assert placeholder.direction == Message.Direction.OUTBOUND  # as the thread said


def test_history_leaves_the_open_conversation_alone_and_shows_as_an_earlier_one(
    client, channel
):
    deliver(client, "d21_original_text")
    current = Conversation.objects.get()
    before = (current.status, current.last_activity_at, current.last_message_preview)
    deliver(client, "d21_history_threads")
    current.refresh_from_db()
    assert (current.status, current.last_activity_at, current.last_message_preview) == before
    assert current.messages.count() == 1
    past = Conversation.objects.exclude(pk=current.pk).get(contact=current.contact)
    assert past.status == Conversation.Status.RESOLVED
    assert past.messages.count() == 3

    _supervisor, contributor = people(channel)
    html = page(client, contributor, current)
    assert f'href="/conversations/{past.pk}/"' in html  # among the earlier conversations
    assert "imported from the WhatsApp Business app history" in page(client, contributor, past)


def test_a_later_history_chunk_with_older_messages_joins_the_same_past_conversation(
    client, channel
):
    deliver(client, "d21_history_threads")
    older = json.loads(corpus("d21_history_threads"))
    chunk = older["entry"][0]["changes"][0]["value"]["history"][0]
    chunk["metadata"].update({"phase": 1, "chunk_order": 2})
    chunk["threads"] = chunk["threads"][:1]
    message = chunk["threads"][0]["messages"][0]
    message.update({"id": "wamid.OLDER", "timestamp": "1766000000"})
    chunk["threads"][0]["messages"] = [message]
    post_signed(client, older)
    past = Conversation.objects.get(contact__wa_id=CUSTOMER)
    assert past.messages.count() == 4
    assert past.opened_at == message_time(1766000000)


def message_time(seconds):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, tz=UTC)


def test_history_is_stored_in_bounded_batches(client, channel, settings):
    settings.HISTORY_IMPORT_BATCH_SIZE = 1
    deliver(client, "d21_history_threads")
    assert Message.objects.filter(via=Message.Via.HISTORY).count() == 4


def test_declined_history_is_acknowledged_and_stores_nothing(client, channel):
    response = deliver(client, "d21_history_declined")
    assert response.json() == {"ignored": 1}
    assert not Message.objects.exists()


# --- system messages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "new_number"),
    [
        ("d21_system_user_changed_number", "15555550999"),
        ("d21_system_customer_changed_number", "15555550888"),
    ],
)
def test_a_number_change_rekeys_the_contact_and_the_conversation_goes_on(
    client, channel, fixture, new_number
):
    deliver(client, "d21_original_text", fixture, fixture)
    contact = Contact.objects.get()  # exactly one
    assert contact.wa_id == new_number and contact.phone == f"+{new_number}"
    conversation = Conversation.objects.get()
    assert conversation.is_open
    assert conversation.events.filter(kind=Event.Kind.NUMBER_CHANGED).count() == 1

    later = json.loads(corpus("d21_original_text"))
    message = later["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update({"from": new_number, "id": "wamid.FROM-NEW", "timestamp": "1767225900"})
    later["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = new_number
    post_signed(client, later)
    assert Contact.objects.count() == 1
    assert Conversation.objects.get().messages.count() == 3  # text, system line, new text

    _supervisor, contributor = people(channel)
    html = page(client, contributor, conversation)
    assert f"changed their number from +{CUSTOMER} to +{new_number}" in html  # the history
    assert f"The customer changed their WhatsApp number to +{new_number}." in html  # the thread
    german = page(client, contributor, conversation, "de")
    assert f"Der Kunde hat seine WhatsApp-Nummer auf +{new_number} geändert." in german


def test_a_number_change_to_a_number_that_already_wrote_merges_into_one_contact(client, channel):
    deliver(client, "d21_original_text")
    newer = json.loads(corpus("d21_original_text"))
    message = newer["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update({"from": "15555550999", "id": "wamid.NEW-FIRST", "timestamp": "1767225790"})
    newer["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "15555550999"
    post_signed(client, newer)
    assert Contact.objects.count() == 2

    deliver(client, "d21_system_user_changed_number")
    contact = Contact.objects.get()
    assert contact.wa_id == "15555550999"
    conversation = Conversation.objects.get()  # the two open ones became one
    assert conversation.messages.count() == 3
    # It began with the earlier of the two, and its page shows every message (the page prunes
    # the month partitions from opened_at on: docs/partitions.md).
    first = conversation.messages.order_by("created_at").first()
    assert conversation.opened_at <= first.created_at
    page = queries.thread_page(conversation, size=10)
    assert [item.kind for item in page.items].count("message") == 3


def test_an_identity_change_warns_on_the_conversation(client, channel):
    deliver(client, "d21_original_text", "d21_system_identity_changed")
    conversation = Conversation.objects.get()
    assert conversation.identity_changed_at is not None
    assert conversation.status == Conversation.Status.NEW
    assert conversation.events.filter(kind=Event.Kind.IDENTITY_CHANGED).exists()
    _supervisor, contributor = people(channel)
    assert 'id="identity-warning"' in page(client, contributor, conversation)
    assert "Identität" in page(client, contributor, conversation, "de")


def test_the_file_of_a_deleted_message_is_served_to_supervisors_only(client, channel):
    deliver(client, "d21_original_image")
    message = Message.objects.get(provider_message_id=ORIG_IMAGE)
    path = default_storage.save("whatsapp/test/deleted-photo.jpg", ContentFile(b"\xff\xd8jpeg"))
    message.payload = {**message.payload, "file": path, "file_type": "image/jpeg"}
    message.save(update_fields=["payload"])
    revoke = json.loads(corpus("d21_revoke"))
    revoke["entry"][0]["changes"][0]["value"]["messages"][0]["revoke"]["original_message_id"] = (
        ORIG_IMAGE
    )
    post_signed(client, revoke)
    supervisor, contributor = people(channel)
    url = reverse("conversations:attachment", args=[message.conversation_id, message.pk])
    client.force_login(contributor)
    assert client.get(url).status_code == 404
    client.force_login(supervisor)
    assert client.get(url).status_code == 200


def test_the_inbox_search_does_not_find_a_deleted_message(client, channel):
    deliver(client, "d21_original_text")
    _supervisor, contributor = people(channel)
    client.force_login(contributor)
    inbox = reverse("conversations:inbox")
    assert "Dana Reyes" in client.get(inbox, {"q": "4417", "status": "new"}).content.decode()
    deliver(client, "d21_revoke")
    assert "Dana Reyes" not in client.get(inbox, {"q": "4417", "status": "new"}).content.decode()


def test_an_echo_is_the_first_response_and_an_outbound_message_in_the_reports(channel):
    from datetime import UTC, date, datetime

    from conversations.services import inbound_events
    from reports import build, figures, tallies

    opened = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)  # the original's timestamp in the fixture
    inbound_events.process_events(webhooks.parse(corpus("d21_original_text")), now=opened)
    later = opened + timedelta(minutes=10)
    inbound_events.process_events(webhooks.parse(corpus("d21_echo_text")), now=later)
    period = figures.Period(first=date(2026, 1, 1), last=date(2026, 1, 1), tz=UTC)

    def report():
        return build.build_report(channel_ids=[channel.pk], period=period, now=later)

    summary = report().summary
    assert summary.first_response.count == 1
    assert summary.first_response.median.seconds == 600
    assert report().daily[0].messages_out == 1
    tallies.rebuild(now=later + timedelta(days=1))  # the same rule, recomputed from messages
    assert Conversation.objects.get().first_response_at == later
    assert report().summary.first_response.median.seconds == 600


def test_a_customer_cannot_edit_or_delete_a_message_the_business_sent(client, channel):
    deliver(client, "d21_echo_text")
    for name in ("d21_edit_text", "d21_revoke"):
        payload = json.loads(corpus(name))
        change = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        change[change["type"]]["original_message_id"] = ECHO_TEXT
        assert post_signed(client, payload).json() == {"ignored": 1}
    echo = Message.objects.get(provider_message_id=ECHO_TEXT)
    assert echo.edited_at is None and echo.revoked_at is None
    assert echo.body.startswith("Hi Dana")


def test_a_parked_change_from_the_wrong_sender_is_dropped(client, channel):
    payload = json.loads(corpus("d21_edit_text"))
    change = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    change["edit"]["original_message_id"] = ECHO_TEXT
    post_signed(client, payload)  # parked: the echo is not here yet
    deliver(client, "d21_echo_text")
    echo = Message.objects.get(provider_message_id=ECHO_TEXT)
    assert echo.edited_at is None
    assert not ParkedChange.objects.exists()


def test_a_change_that_missed_its_concurrent_original_is_applied_by_the_hourly_job(client, channel):
    deliver(client, "d21_original_text")
    message = Message.objects.get(provider_message_id=ORIG_TEXT)
    # As if the edit had checked for its original just before the original committed.
    ParkedChange.objects.create(
        channel=channel, provider_message_id="wamid.RACE", target_provider_id=ORIG_TEXT,
        kind=ParkedChange.Kind.EDIT, data={"body": "edited in the race", "outbound": False},
        sent_at=message.sent_at + timedelta(seconds=5), created_at=timezone.now(),
    )  # fmt: skip
    assert message_changes.erase_deleted()["parked_applied"] == 1
    message.refresh_from_db()
    assert message.body == "edited in the race"
    assert not ParkedChange.objects.exists()
