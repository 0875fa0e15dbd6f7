"""The replay corpus (issue 21 item 7): every Meta-shaped payload in tests/fixtures/whatsapp/corpus/
replayed alone, redelivered, and inside mixed batches, through the signed webhook. Each message
is stored exactly once, no stored message shows a blank row, no answer is a 500, statuses and
template reviews land. Every ``*.json`` file in the folder is picked up; its README says how to
add one."""

import html
import json
import random
import re

import pytest

from channels_app.models import MessageTemplate
from conversations.models import InboundPayload, Message, ParkedChange
from conversations.queries import thread_page
from conversations.services import inbound_payloads
from conversations.templatetags.desk import thread_items
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory, TemplateFactory
from tests.whatsapp.conftest import FIXTURES, post_signed

CORPUS = FIXTURES / "corpus"
FILES = sorted(CORPUS.glob("*.json"))
PAYLOADS = {path.stem: json.loads(path.read_text()) for path in FILES}
PNID, WABA = "109876543210987", "104455667788990"

# Message types that change another message instead of adding a row of their own.
CHANGE_TYPES = {"edit", "revoke"}
# Template review events and the status each leaves (channels_app.template_services).
TEMPLATE_STATUS = {
    "APPROVED": "APPROVED",
    "REJECTED": "REJECTED",
    "PAUSED": "PAUSED",
    "DISABLED": "DISABLED",
    "REINSTATED": "APPROVED",
    "FLAGGED": "FLAGGED",
}
DELIVERY_STATES = ("sent", "delivered", "read", "failed")


def _values(payload):
    for entry in payload["entry"]:
        for change in entry["changes"]:
            yield change["field"], change["value"]


def _messages(payload):
    """Every message object of a payload: messages, app echoes and history threads."""
    for _field, value in _values(payload):
        yield from value.get("messages", [])
        yield from value.get("message_echoes", [])
        for chunk in value.get("history", []):
            for thread in chunk.get("threads", []) if isinstance(chunk, dict) else []:
                yield from thread.get("messages", [])


def _statuses(payload):
    for _field, value in _values(payload):
        yield from value.get("statuses", [])


def _template_events(payload):
    for field, value in _values(payload):
        if field == "message_template_status_update":
            yield value


def _expected(payloads):
    """What a replay of ``payloads`` must leave: message ids stored once, changes applied or
    parked, messages without an id stored (as unreadable), final statuses, template states."""
    stored, changes, without_id, statuses, templates = set(), set(), 0, {}, {}
    for payload in payloads:
        for message in _messages(payload):
            if "id" not in message:
                without_id += 1
            elif message.get("type") in CHANGE_TYPES:
                changes.add(message["id"])
            else:
                stored.add(message["id"])
        for status in _statuses(payload):
            # The highest state wins, whatever the order (outbound.apply_status); others
            # ("played") change nothing.
            state = status["status"] if status["status"] in DELIVERY_STATES else None
            best = statuses.get(status["id"])
            if best is None or (state and Message.rank(state) > Message.rank(best)):
                statuses[status["id"]] = state
        for event in _template_events(payload):
            templates[str(event["message_template_id"])] = TEMPLATE_STATUS.get(event["event"])
    return stored, changes, without_id, statuses, templates


def _seed(payloads):
    """The channel, and the replies and templates the statuses and reviews are about."""
    channel = ChannelFactory(phone_number_id=PNID, waba_id=WABA)
    conversation = ConversationFactory(channel=channel)
    statuses = _expected(payloads)[3]
    for wamid in statuses:
        MessageFactory(conversation=conversation, direction="out", provider_message_id=wamid,
                       delivery="sent")  # fmt: skip
    for payload in payloads:
        for event in _template_events(payload):
            TemplateFactory(
                channel=channel,
                provider_id=str(event["message_template_id"]),
                name=event["message_template_name"],
                language=event["message_template_language"],
                status="PENDING",
            )
    return channel


def _row_text(html_rows: str, pk: int) -> str:
    """The visible text of a message's row, without its type label and its time line."""
    match = re.search(rf'<li class="msg[^"]*" id="message-{pk}">(.*?)\n</li>', html_rows, re.S)
    assert match, f"message {pk} has no row"
    row = re.sub(r'<span class="msg-kind">.*?</span>', "", match.group(1), flags=re.S)
    row = re.sub(r'<div class="msg-meta">.*?</div>', "", row, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())


def _check(payloads):
    stored, changes, without_id, statuses, templates = _expected(payloads)
    for wamid in stored:
        assert Message.objects.filter(provider_message_id=wamid).count() == 1, wamid
    for wamid in changes:
        assert not Message.objects.filter(provider_message_id=wamid).exists(), wamid
        parked = ParkedChange.objects.filter(provider_message_id=wamid).exists()
        applied = Message.objects.filter(payload__versions__isnull=False).exists() or (
            Message.objects.filter(revoked_at__isnull=False).exists()
        )
        assert parked or applied, f"the change {wamid} was neither applied nor parked"
    unreadable = Message.objects.filter(provider_message_id__startswith="unreadable.")
    assert unreadable.count() == without_id
    for wamid, state in statuses.items():
        reply = Message.objects.get(provider_message_id=wamid, direction="out")
        assert reply.delivery == (state or "sent"), wamid
    for template_id, state in templates.items():
        if state:
            assert MessageTemplate.objects.get(provider_id=template_id).status == state
    # Never blank: every stored message's row says something.
    for conversation_id in set(Message.objects.values_list("conversation_id", flat=True)):
        messages = Message.objects.filter(conversation_id=conversation_id)
        page = thread_page(messages.first().conversation, size=messages.count() + 10)
        rows = thread_items(page.items, "/conversations/x/", ())
        for message in messages:
            if message.type == "reaction" and f'id="message-{message.pk}"' not in rows:
                # Shown on the message it reacts to (issue 16), not as a row of its own.
                target = messages.filter(provider_message_id=message.payload["message_id"])
                assert _row_text(rows, target.get().pk), "a reaction's target shows nothing"
                continue
            text = _row_text(rows, message.pk)
            assert text, f"{message.type} {message.provider_message_id} shows a blank row"


def _count():
    return (Message.objects.count(), ParkedChange.objects.count())


def _post_and_apply(client, payload):
    response = post_signed(client, payload)
    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    if "payload" in body:  # a large batch: applied by the worker, as in production
        inbound_payloads.apply_payload(body["payload"])
        assert InboundPayload.objects.get(pk=body["payload"]).status == "done"
    return body


def test_the_corpus_covers_every_inbound_type_status_and_template_event():
    types = {m.get("type") for p in PAYLOADS.values() for m in _messages(p)}
    wanted = {"text", "image", "video", "audio", "document", "sticker", "location", "contacts",
              "interactive", "button", "reaction", "order", "request_welcome", "unsupported",
              "unknown"}  # fmt: skip
    assert wanted <= types, wanted - types
    kinds = {m["interactive"]["type"] for p in PAYLOADS.values() for m in _messages(p)
             if isinstance(m.get("interactive"), dict)}  # fmt: skip
    assert {"button_reply", "list_reply", "nfm_reply"} <= kinds
    states = {s["status"] for p in PAYLOADS.values() for s in _statuses(p)}
    assert set(DELIVERY_STATES) <= states
    assert any(list(_template_events(p)) for p in PAYLOADS.values())


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_each_payload_alone_is_stored_once_and_never_blank(client, db, name):
    payload = PAYLOADS[name]
    _seed([payload])
    _post_and_apply(client, payload)
    _check([payload])
    once = _count()
    _post_and_apply(client, payload)  # Meta redelivers
    assert _count() == once
    _check([payload])


def _mixed(payloads):
    return {"object": "whatsapp_business_account",
            "entry": [entry for p in payloads for entry in p["entry"]]}  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mixed_batches_of_the_corpus_are_each_stored_once(client, db, seed):
    names = sorted(PAYLOADS)
    random.Random(seed).shuffle(names)
    payloads = [PAYLOADS[n] for n in names]
    _seed(payloads)
    for start in range(0, len(payloads), 6):
        _post_and_apply(client, _mixed(payloads[start : start + 6]))
    _check(payloads)


def test_the_whole_corpus_in_one_batch_is_applied_by_the_worker(client, db, settings):
    payloads = [PAYLOADS[n] for n in sorted(PAYLOADS, reverse=True)]
    _seed(payloads)
    settings.WEBHOOK_INLINE_MAX_ITEMS = 10
    body = _post_and_apply(client, _mixed(payloads))
    assert "payload" in body
    _check(payloads)
    once = _count()
    _post_and_apply(client, _mixed(payloads))
    assert _count() == once
