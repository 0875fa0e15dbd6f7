"""The parser on the fixture payloads of every type, and the signature check."""

import json

import pytest

from channels_app.whatsapp import webhooks
from tests.whatsapp.conftest import fixture_bytes


def test_signature_matches_the_reference_test_vector():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756"
    assert webhooks.verify_signature(body, header, "test_app_secret")
    assert webhooks.sign(body, "test_app_secret") == header


@pytest.mark.parametrize(
    "header", [None, "", "sha256=", "sha1=abc", "sha256=" + "0" * 64, "dec6a680679a968e"]
)
def test_missing_or_wrong_signature_is_refused(header):
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert not webhooks.verify_signature(body, header, "test_app_secret")


def test_signature_is_over_raw_bytes_not_reserialised_json():
    body = b'{"object": "whatsapp_business_account",  "entry": []}'
    reserialised = json.dumps(json.loads(body)).encode()
    assert not webhooks.verify_signature(body, webhooks.sign(reserialised, "s"), "s")


@pytest.mark.parametrize(
    ("name", "kind", "body", "payload_subset"),
    [
        ("text_reply", "text", "Is my order 4471 shipped yet?", {}),
        ("image", "image", "the dent, photo 1", {"media_id": "1043820517731956"}),
        ("video", "video", "unboxing", {"mime_type": "video/mp4"}),
        ("audio", "audio", "", {"voice": True}),
        ("document", "document", "my invoice", {"filename": "INV-2209.pdf"}),
        ("sticker", "sticker", "", {"animated": False}),
        ("location", "location", "Pier 5 Store — 5 Bay St", {"latitude": 37.4847}),
        ("contacts", "contacts", "Sam Lee", {}),
        ("interactive_button_reply", "interactive", "Yes, move it", {"id": "resched_yes"}),
        ("interactive_list_reply", "interactive", "Track an order", {"id": "topic_track"}),
        ("interactive_nfm_reply", "interactive", "Sent", {"response_json": '{"size": "M"}'}),
        ("button", "button", "Stop updates", {"payload": "STOP_SHIPPING_UPDATES"}),
        ("reaction", "reaction", "\u2764\ufe0f", {"removed": False}),
        ("order", "order", "two please", {}),
        ("system", "system", "Dana changed their number", {}),
        ("unsupported", "unsupported", "", {"unsupported": {"type": "poll"}}),
        ("request_welcome", "unsupported", "", {"original_type": "request_welcome"}),
    ],
)
def test_every_inbound_type_parses_into_one_message(name, kind, body, payload_subset):
    [event] = webhooks.parse(fixture_bytes(name))
    assert isinstance(event, webhooks.InboundMessage)
    assert event.phone_number_id == "109876543210987"
    assert event.wa_id == "15555550123"
    assert event.profile_name == "Dana Reyes"
    assert event.type == kind
    assert event.body == body
    assert payload_subset.items() <= event.payload.items()
    assert event.sent_at.timestamp() > 1767225600


def test_reply_context_names_the_quoted_message():
    [event] = webhooks.parse(fixture_bytes("text_reply"))
    assert (
        event.reply_to_provider_id == "wamid.HBgLMTU1NTU1NTAxMjMVAgARGBI5QUQ3RjE0QjJFQzFFOUQ4NTIA"
    )


def test_failed_status_carries_the_error_code():
    [event] = webhooks.parse(fixture_bytes("status_failed_131047"))
    assert isinstance(event, webhooks.StatusUpdate)
    assert (event.status, event.error.code) == ("failed", 131047)


def test_template_status_update_keeps_the_id_as_text():
    [event] = webhooks.parse(fixture_bytes("template_rejected"))
    assert isinstance(event, webhooks.TemplateStatusUpdate)
    assert event.template_id == "778899001122334"
    assert event.reason.startswith("INVALID_FORMAT: Two variables")


def test_other_fields_are_ignored_not_refused():
    body = fixture_bytes("account_update").replace(b'"account_update"', b'"security"')
    [event] = webhooks.parse(body)
    assert isinstance(event, webhooks.Ignored)


def test_account_update_is_read_as_a_health_event():
    [event] = webhooks.parse(fixture_bytes("account_update"))
    assert isinstance(event, webhooks.AccountUpdate)
    assert (event.waba_id, event.event) == ("104455667788990", "VERIFIED_ACCOUNT")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"object":"page","entry":[]}', "whatsapp_business_account"),
        (b'{"object":"whatsapp_business_account"}', "entry is not a list"),
        (b'{"object":"whatsapp_business_account","entry":5}', "entry is not a list"),
        (b"[" * 100000 + b"]" * 100000, "not JSON"),
    ],
)
def test_only_a_broken_envelope_raises_with_a_reason(body, reason):
    with pytest.raises(webhooks.MalformedPayload, match=reason):
        webhooks.parse(body)


def _envelope(*changes, entry_extra=None):
    entry = {"id": "104455667788990", "changes": list(changes), **(entry_extra or {})}
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


def _messages_change(*messages, statuses=()):
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100234", "phone_number_id": "109876543210987"},
        "contacts": [{"profile": {"name": "Dana Reyes"}, "wa_id": "15555550123"}],
        "messages": list(messages),
    }
    if statuses:
        value["statuses"] = list(statuses)
    return {"field": "messages", "value": value}


GOOD = {
    "from": "15555550123",
    "id": "wamid.GOOD",
    "timestamp": "1767225600",
    "type": "text",
    "text": {"body": "hello"},
}


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({"type": "interactive"}, "interactive is not an object"),
        ({"type": "text", "text": {"body": 5}}, "body is not a string"),
        ({"type": "text", "text": {}}, "body is not a string"),
        ({"type": "location", "location": {"latitude": "north"}}, "numeric latitude"),
        ({"type": 7}, "type is missing"),
        ({"timestamp": "yesterday"}, "Unix seconds"),
        ({"type": "text", "text": {"body": "nul \u0000 inside"}}, "NUL"),
    ],
)
def test_a_message_that_cannot_be_read_becomes_unreadable_beside_the_good_one(broken, reason):
    bad = {**GOOD, "id": "wamid.BAD", **broken}
    body = _envelope(_messages_change(GOOD, bad))
    good, unreadable = webhooks.parse(body)
    assert (good.type, good.body) == ("text", "hello")
    assert unreadable.type == "unreadable"
    assert unreadable.provider_message_id == "wamid.BAD"
    assert unreadable.wa_id == "15555550123"
    assert unreadable.profile_name == "Dana Reyes"
    assert reason in unreadable.payload["reason"]
    assert json.loads(unreadable.payload["raw"])["id"] == "wamid.BAD"


def test_an_unreadable_message_without_an_id_gets_one_from_its_json_the_same_each_time():
    bad = {"from": "15555550123", "type": "interactive", "timestamp": "1767225600"}
    [first] = webhooks.parse(_envelope(_messages_change(bad)))
    [again] = webhooks.parse(_envelope(_messages_change(bad)))
    assert first.provider_message_id.startswith("unreadable.")
    assert first.provider_message_id == again.provider_message_id
    assert first.sent_at.timestamp() == 1767225600


def test_a_message_naming_no_sender_and_a_broken_status_are_skipped_not_fatal():
    status = {"id": "wamid.OUT1", "status": "delivered", "timestamp": "soon"}
    body = _envelope(_messages_change(GOOD, {"id": "wamid.X", "type": "text"}, statuses=[status]))
    good, no_sender, bad_status = webhooks.parse(body)
    assert good.provider_message_id == "wamid.GOOD"
    assert isinstance(no_sender, webhooks.Skipped) and "no sender" in no_sender.reason
    assert isinstance(bad_status, webhooks.Skipped) and "Unix seconds" in bad_status.reason


def test_a_change_or_entry_without_its_routing_is_skipped_and_the_rest_read():
    no_metadata = {"field": "messages", "value": {"messages": [GOOD]}}
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                "not an entry",
                {"id": "1\u0000", "changes": []},
                {"id": "104455667788990", "changes": [no_metadata, _messages_change(GOOD)]},
            ],
        }
    ).encode()
    events = webhooks.parse(body)
    assert [type(e).__name__ for e in events] == ["Skipped", "Skipped", "Skipped", "InboundMessage"]
    assert "metadata is missing" in events[2].reason


def test_template_status_update_carries_the_entry_time():
    value = json.loads(fixture_bytes("template_rejected"))["entry"][0]["changes"][0]
    [event] = webhooks.parse(_envelope(value, entry_extra={"time": 1767225600}))
    assert event.event_at.timestamp() == 1767225600


def test_count_items_counts_messages_statuses_and_history_thread_messages():
    threads = [
        {"id": "15555550123", "messages": [GOOD, GOOD, GOOD]},
        {"id": "15555550124", "messages": [GOOD]},
    ]
    history = {"field": "history", "value": {"history": [{"threads": threads}]}}
    template = json.loads(fixture_bytes("template_rejected"))["entry"][0]["changes"][0]
    change = _messages_change(GOOD, GOOD, statuses=[{"id": "wamid.OUT1"}])
    data = webhooks.load(_envelope(change, history, template))
    assert webhooks.count_items(data) == 3 + 4 + 1
