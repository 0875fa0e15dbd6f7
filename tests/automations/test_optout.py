"""Marketing opt-out: stop words and WhatsApp's report mark the contact; no marketing template
reaches them through the page or an automation; a start word or an agent with a note reverses
it; every change is recorded (issue 19 item 2)."""

import pytest
from django.urls import reverse

from api import tokens
from automations import engine, optout
from automations.models import AutomationRule, MarketingOptOut, OptOutChange, OptOutWord
from channels_app.access import Role
from channels_app.models import MessageTemplate
from conversations import services
from conversations.models import Conversation, Message
from tests.api.conftest import ApiClient
from tests.automations.conftest import CUSTOMER, customer_writes
from tests.factories import (
    ConversationFactory,
    GrantFactory,
    MessageFactory,
    TemplateFactory,
    UserFactory,
    days_ago,
)
from tests.whatsapp.conftest import fixture_bytes, post_signed

MARKETING_BODY = [{"type": "BODY", "text": "Spring sale: 20% off everything!"}]


@pytest.fixture(autouse=True)
def _fresh_words():
    optout.forget_words()
    yield
    optout.forget_words()


@pytest.fixture
def agent(channel):
    user = UserFactory(username="carla")
    GrantFactory(channel=channel, user=user, role=Role.CONTRIBUTOR)
    return user


@pytest.fixture
def marketing(channel):
    return TemplateFactory(channel=channel, name="spring_sale", components=MARKETING_BODY,
                           category=MessageTemplate.Category.MARKETING)


@pytest.fixture
def utility(channel):
    return TemplateFactory(channel=channel, name="order_update",
                           category=MessageTemplate.Category.UTILITY)


def _opted_out(wa_id=CUSTOMER) -> bool:
    return MarketingOptOut.objects.filter(contact__wa_id=wa_id, opted_out=True).exists()


def _closed_window(conversation):
    Conversation.objects.filter(pk=conversation.pk).update(last_customer_message_at=days_ago(2))
    conversation.refresh_from_db()
    return conversation


@pytest.mark.parametrize("word", ["STOP", "stop!", "Abmelden", " abmelden. "])
def test_a_stop_word_opts_the_customer_out_with_a_record_and_an_event(
    client, channel, word, django_capture_on_commit_callbacks
):
    customer_writes(client, word, django_capture_on_commit_callbacks)
    assert _opted_out()
    [change] = OptOutChange.objects.all()
    assert (change.opted_out, change.source, change.channel_id) == (True, "keyword", channel.pk)
    conversation = Conversation.objects.get(channel=channel)
    assert conversation.events.filter(kind=optout.EVENT_OUT).count() == 1


def test_a_sentence_containing_stop_is_not_an_opt_out(
    client, channel, django_capture_on_commit_callbacks
):
    customer_writes(client, "please stop the delivery, I moved", django_capture_on_commit_callbacks)
    assert not _opted_out()


def test_words_are_configurable(client, channel, django_capture_on_commit_callbacks):
    OptOutWord.objects.create(word="BASTA", language="it", kind="stop")
    customer_writes(client, "Basta", django_capture_on_commit_callbacks)
    assert _opted_out()


def test_the_marketing_opt_out_webhook_marks_the_contact(
    client, channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_signed(client, fixture_bytes("health/user_preferences_stop")).status_code == 200
    assert _opted_out()
    change = OptOutChange.objects.get()
    assert change.source == "meta"
    assert "stop marketing" in change.evidence


def test_no_marketing_template_through_the_services_or_the_page(
    client, channel, agent, marketing, utility, django_capture_on_commit_callbacks
):
    customer_writes(client, "STOP", django_capture_on_commit_callbacks)
    conversation = _closed_window(Conversation.objects.get(channel=channel))

    with pytest.raises(services.DomainError) as refused:
        services.send_template(conversation, author=agent, template=marketing, params=[])
    assert refused.value.message == str(optout.OPTED_OUT_REFUSAL)

    client.force_login(agent)
    page = client.get(reverse("conversations:detail", args=[conversation.pk])).content.decode()
    assert 'class="window closed template-refused"' in page  # the picker says why, no button
    url = reverse("conversations:send_template", args=[conversation.pk])
    response = client.post(url, {"template": marketing.pk}, follow=True)
    assert "opted out of marketing" in response.content.decode()
    assert not conversation.messages.filter(template=marketing).exists()

    # A utility template still goes out.
    services.send_template(conversation, author=agent, template=utility, params=["Dana", "4471"])
    assert conversation.messages.filter(template=utility).count() == 1


def test_no_marketing_template_through_an_automation(
    client, channel, marketing, django_capture_on_commit_callbacks
):
    customer_writes(client, "STOP", django_capture_on_commit_callbacks)
    AutomationRule.objects.create(channel=channel, name="promo on deals", text_contains="deal",
                                  send_template=marketing)
    customer_writes(client, "any deals today?", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(channel=channel)
    [fired] = conversation.events.filter(kind=engine.EVENT_KIND)
    assert fired.data["actions"]["template"].startswith("refused: ")
    assert "opted out of marketing" in fired.data["actions"]["template"]
    assert not Message.objects.filter(template=marketing).exists()


def test_a_start_word_opts_back_in_and_marketing_may_be_sent_again(
    client, channel, agent, marketing, django_capture_on_commit_callbacks
):
    customer_writes(client, "STOP", django_capture_on_commit_callbacks)
    customer_writes(client, "START", django_capture_on_commit_callbacks)
    assert not _opted_out()
    assert list(OptOutChange.objects.order_by("id").values_list("opted_out", flat=True)) == [
        True, False,
    ]
    conversation = Conversation.objects.get(channel=channel)
    services.send_template(conversation, author=agent, template=marketing, params=[])
    assert conversation.messages.filter(template=marketing).exists()


def test_an_agent_opts_back_in_only_with_a_note(
    client, channel, agent, django_capture_on_commit_callbacks
):
    customer_writes(client, "STOP", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(channel=channel)
    client.force_login(agent)
    url = reverse("automations:consent", args=[conversation.pk])
    page = client.get(reverse("conversations:detail", args=[conversation.pk])).content.decode()
    assert 'id="opted-out"' in page

    client.post(url, {"opted_out": "0", "note": "  "}, follow=True)
    assert _opted_out()
    client.post(url, {"opted_out": "0", "note": "Asked by phone for the newsletter"})
    assert not _opted_out()
    change = OptOutChange.objects.latest("id")
    assert (change.source, change.actor, change.note) == (
        "agent", agent, "Asked by phone for the newsletter",
    )
    event = conversation.events.get(kind=optout.EVENT_IN)
    assert event.actor == agent


def test_only_users_of_the_channel_can_change_consent(
    client, channel, django_capture_on_commit_callbacks
):
    customer_writes(client, "STOP", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(channel=channel)
    client.force_login(UserFactory())  # no access to the channel
    response = client.post(
        reverse("automations:consent", args=[conversation.pk]), {"opted_out": "0", "note": "x"}
    )
    assert response.status_code == 404
    assert _opted_out()


def test_no_marketing_template_through_the_api(
    client, channel, marketing, utility, django_capture_on_commit_callbacks
):
    """The customer wrote STOP; an integration's API send of the marketing template is refused
    with the same reason, a utility one goes out (the one check of the template send path)."""
    customer_writes(client, "STOP", django_capture_on_commit_callbacks)
    _token, raw = tokens.create_token(name="CRM", channels=[channel], actor=None)
    api = ApiClient(raw)
    body = {"channel_id": channel.pk, "to": f"+{CUSTOMER}", "template": "spring_sale",
            "params": []}  # fmt: skip
    refused = api.post("/messages/template", body)
    assert refused.status_code == 422
    assert refused.json()["detail"] == str(optout.OPTED_OUT_REFUSAL)
    assert not Message.objects.filter(template=marketing).exists()
    sent = api.post("/messages/template", {**body, "template": "order_update",
                                            "params": ["Dana", "4471"]})  # fmt: skip
    assert sent.status_code == 201, sent.content


def test_a_send_failing_with_131050_opts_the_customer_out(
    client, channel, marketing, django_capture_on_commit_callbacks
):
    """WhatsApp refuses a marketing message because the customer stopped them: that is their
    opt-out, recorded as WhatsApp's report."""
    conversation = ConversationFactory(channel=channel, contact__wa_id="15555550123")
    MessageFactory(conversation=conversation, direction=Message.Direction.OUTBOUND,
                   provider_message_id="wamid.PRICE.FAIL1", template=marketing,
                   delivery=Message.Delivery.SENT)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        body = fixture_bytes("pricing/06_failed_has_no_pricing")
        assert post_signed(client, body).status_code == 200
    assert _opted_out("15555550123")
    change = OptOutChange.objects.get()
    assert (change.source, change.evidence) == ("meta", "131050 on wamid.PRICE.FAIL1")
    assert conversation.events.filter(kind=optout.EVENT_OUT).exists()
