"""POST /api/v1/messages/template: tokens, scope, templates, the rate limit, idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api import sending, tokens
from api.models import ApiToken
from automations.models import MarketingOptOut
from conversations.models import Contact, Conversation, Event, Message
from tests.api.conftest import ApiClient, send_body
from tests.factories import ContactFactory, ConversationFactory

pytestmark = pytest.mark.django_db


# --- authentication ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer dsk_not-a-real-token", "Bearer ", "Token dsk_x", "Basic YWxhZGRpbjpvcGVu"],
)
def test_a_missing_or_bad_token_is_refused_with_401_and_a_reason(world, authorization):
    api = ApiClient(None)
    headers = {"Authorization": authorization} if authorization else {}
    response = api.post("/messages/template", send_body(world), **headers)
    assert response.status_code == 401
    assert "token" in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Bearer"
    assert not Message.objects.exists()


def test_a_revoked_token_stops_at_once(world):
    assert tokens.revoke_token(world.token, actor=None)
    response = world.api.post("/messages/template", send_body(world))
    assert response.status_code == 401
    assert world.api.get("/channels").status_code == 401


def test_the_token_is_stored_only_as_a_hash(world):
    stored = ApiToken.objects.values_list("prefix", "token_hash").get(pk=world.token.pk)
    assert world.raw.startswith(stored[0])
    assert world.raw not in str(stored)
    assert stored[1] == tokens.hash_token(world.raw)


# --- sending ---------------------------------------------------------------------------------
def test_a_send_to_a_new_number_creates_the_contact_and_a_pending_conversation(world):
    response = world.api.post("/messages/template", send_body(world))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["conversation_created"] is True
    assert body["conversation_status"] == "pending"
    assert body["delivery"] == "queued"

    contact = Contact.objects.get(wa_id="4915112345678")
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert (conversation.contact, conversation.channel) == (contact, world.channel)
    message = Message.objects.get(pk=body["message_id"])
    assert message.type == "template" and message.template == world.utility
    assert message.body == "Hi Ada, your order A-1001 has an update."
    assert message.author is None
    opened = Event.objects.get(conversation=conversation, kind=Event.Kind.OPENED)
    assert opened.data["via"] == "API token: CRM"

    again = world.api.post("/messages/template", send_body(world, params=["Ada", "A-1002"]))
    assert again.status_code == 201
    assert again.json()["conversation_id"] == conversation.pk
    assert again.json()["conversation_created"] is False
    assert Conversation.objects.count() == 1


def test_a_send_joins_the_customers_open_conversation(world):
    contact = ContactFactory(wa_id="4915112345678")
    waiting = ConversationFactory(channel=world.channel, contact=contact, status="new")
    response = world.api.post("/messages/template", send_body(world))
    assert response.status_code == 201
    assert response.json()["conversation_id"] == waiting.pk
    assert response.json()["conversation_status"] == "new"


def test_a_channel_outside_the_tokens_scope_does_not_exist_for_it(world):
    response = world.api.post("/messages/template", send_body(world, channel_id=world.other.pk))
    assert response.status_code == 404
    assert f"No channel {world.other.pk} in this token's scope" in response.json()["detail"]
    world.channel.is_active = False
    world.channel.save()
    assert world.api.post("/messages/template", send_body(world)).status_code == 404
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"template": "not_yet"}, "not approved"),
        ({"template": "no_such_template"}, "no template named"),
        ({"params": ["only one"]}, "needs 2 parameters"),
        ({"params": ["Ada", "  "]}, "needs 2 parameters"),
        ({"to": "12"}, None),  # pydantic: too short
        ({"to": "not a number at all"}, "phone number with its country code"),
        ({"channel_id": "x"}, None),
        ({"channel_id": None}, None),
        ({"params": "Ada"}, None),
    ],
)
def test_bad_input_is_a_4xx_with_a_reason_never_a_send(world, overrides, reason):
    response = world.api.post("/messages/template", send_body(world, **overrides))
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert detail
    if reason:
        assert reason in detail
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()


def test_a_body_that_is_not_json_is_a_400(world):
    response = world.api.post("/messages/template", raw="{not json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_a_marketing_template_to_an_opted_out_customer_is_refused(world):
    contact = ContactFactory(wa_id="4915112345678")
    MarketingOptOut.objects.create(
        contact=contact, opted_out=True, changed_at=timezone.now(), source="word"
    )
    response = world.api.post(
        "/messages/template", send_body(world, template="spring_sale", params=["20 %"])
    )
    assert response.status_code == 422
    assert "opted out of marketing" in response.json()["detail"]
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()  # the refused send opened nothing
    utility = world.api.post("/messages/template", send_body(world))
    assert utility.status_code == 201


# --- rate limit ------------------------------------------------------------------------------
def test_the_61st_send_of_a_minute_on_a_channel_is_429_with_retry_after(world):
    for n in range(60):
        response = world.api.post(
            "/messages/template", send_body(world, to=f"+49151000{n:05d}")
        )
        assert response.status_code == 201, (n, response.content)
    refused = world.api.post("/messages/template", send_body(world, to="+4915199999999"))
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "60 template messages a minute" in refused.json()["detail"]
    assert Message.objects.count() == 60
    assert not Contact.objects.filter(wa_id="4915199999999").exists()


def test_the_limit_is_per_channel_and_slides_with_the_minute(world, settings):
    settings.API_SENDS_PER_MINUTE = 2
    start = timezone.now()

    def send(at, to, token=world.token, channel=world.channel):
        return sending.send_template(
            token, channel_id=channel.pk, to=to, template="order_update", language=None,
            params=["A", "B"], idempotency_key=None, now=at,
        )  # fmt: skip

    send(start, "4915100000001")
    send(start + timedelta(seconds=10), "4915100000002")
    with pytest.raises(sending.ApiRefusal) as refused:
        send(start + timedelta(seconds=20), "4915100000003")
    assert (refused.value.status, refused.value.retry_after) == (429, 40)
    # Another channel has its own minute.
    send(start + timedelta(seconds=20), "4915100000003", world.other_token, world.other)
    # A minute after the first send, one slot is free again; not two.
    send(start + timedelta(seconds=60), "4915100000004")
    with pytest.raises(sending.ApiRefusal):
        send(start + timedelta(seconds=61), "4915100000005")


def test_a_refused_send_takes_no_slot(world, settings):
    settings.API_SENDS_PER_MINUTE = 1
    bad = world.api.post("/messages/template", send_body(world, params=["x"]))
    assert bad.status_code == 422
    assert world.api.post("/messages/template", send_body(world)).status_code == 201


# --- idempotency -----------------------------------------------------------------------------
def test_a_repeated_idempotency_key_sends_once_and_answers_the_same(world):
    first = world.api.post("/messages/template", send_body(world), **{"Idempotency-Key": "k-1"})
    again = world.api.post("/messages/template", send_body(world), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Message.objects.count() == 1

    other_key = world.api.post(
        "/messages/template", send_body(world), **{"Idempotency-Key": "k-2"}
    )
    assert other_key.status_code == 201
    assert Message.objects.count() == 2


def test_an_idempotency_key_reused_for_another_request_is_refused(world):
    world.api.post("/messages/template", send_body(world), **{"Idempotency-Key": "k-1"})
    response = world.api.post(
        "/messages/template", send_body(world, params=["Bob", "B-2"]), **{"Idempotency-Key": "k-1"}
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert Message.objects.count() == 1


def test_a_failed_request_leaves_its_key_free_for_the_retry(world):
    bad = world.api.post(
        "/messages/template", send_body(world, params=["x"]), **{"Idempotency-Key": "k-9"}
    )
    assert bad.status_code == 422
    good = world.api.post(
        "/messages/template", send_body(world, params=["x"]), **{"Idempotency-Key": "k-9"}
    )
    assert good.status_code == 422  # the same bad request again: refused again, never replayed
    fixed = world.api.post("/messages/template", send_body(world), **{"Idempotency-Key": "k-10"})
    assert fixed.status_code == 201


def test_keys_belong_to_their_token(world):
    world.api.post("/messages/template", send_body(world), **{"Idempotency-Key": "shared"})
    response = world.other_api.post(
        "/messages/template",
        send_body(world, channel_id=world.other.pk),
        **{"Idempotency-Key": "shared"},
    )
    assert response.status_code == 201
    assert Message.objects.count() == 2
