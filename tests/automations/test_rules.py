"""Automation rules on customers' messages: keyword → tag + route, and no loops (issue 19)."""

import time

import pytest
from django.urls import reverse

from automations import actions, conditions, engine
from automations.forms import AutomationRuleForm
from automations.models import AutomationRule
from channels_app.access import Role
from conversations.models import Conversation, Event, Message
from tests.automations.conftest import customer_writes
from tests.factories import (
    AdminUserFactory,
    GrantFactory,
    SavedReplyFactory,
    TagFactory,
    TeamFactory,
    UserFactory,
)


@pytest.fixture
def billing_team(channel):
    agent = UserFactory(username="bea_billing")
    other = UserFactory(username="ben_billing")
    team = TeamFactory(name="Billing", members=[agent, other])
    GrantFactory(channel=channel, user=None, team=team, role=Role.CONTRIBUTOR)
    return team


def _rule(channel, **fields):
    return AutomationRule.objects.create(channel=channel, name=fields.pop("name", "rule"), **fields)


def _automation_events(conversation):
    return list(conversation.events.filter(kind=engine.EVENT_KIND).order_by("id"))


def test_a_keyword_tags_and_routes_the_conversation_and_names_the_rule(
    client, channel, billing_team, django_capture_on_commit_callbacks
):
    tag = TagFactory(name="invoice")
    rule = _rule(channel, name="Invoices to billing", text_contains="invoice, refund",
                 add_tag=tag, route_to_team=billing_team)
    customer_writes(client, "Hello, where is my INVOICE?", django_capture_on_commit_callbacks)

    conversation = Conversation.objects.get(channel=channel)
    assert list(conversation.tags.values_list("name", flat=True)) == ["invoice"]
    assert conversation.assignee in billing_team.members.all()
    [fired] = _automation_events(conversation)
    assert fired.data["rule"] == rule.pk
    assert fired.data["name"] == "Invoices to billing"
    assert fired.data["actions"] == {"tag": "done", "team": "done"}
    assert fired.actor is None
    # The tag and the assignment are the services' own events, written by the system.
    kinds = set(conversation.events.values_list("kind", flat=True))
    assert {Event.Kind.TAG_ADDED, Event.Kind.ASSIGNED} <= kinds


def test_a_message_without_the_keyword_fires_nothing(
    client, channel, billing_team, django_capture_on_commit_callbacks
):
    _rule(channel, text_contains="invoice", add_tag=TagFactory(name="invoice"))
    customer_writes(client, "Just saying hi", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(channel=channel)
    assert not conversation.tags.exists()
    assert _automation_events(conversation) == []


def test_routing_picks_the_member_with_the_fewest_open_conversations(
    client, channel, billing_team, django_capture_on_commit_callbacks
):
    bea, ben = billing_team.members.order_by("username")
    from tests.factories import ConversationFactory

    ConversationFactory(channel=channel, assignee=ben)
    _rule(channel, text_contains="invoice", route_to_team=billing_team)
    customer_writes(client, "invoice please", django_capture_on_commit_callbacks)
    assert Conversation.objects.get(channel=channel, assignee=bea)


def test_a_rule_never_triggers_itself_again(
    client, channel, billing_team, django_capture_on_commit_callbacks
):
    """The rule answers with a saved reply that itself contains the keyword, and resolves: its
    own reply and its resolution announce messages and changes, and none of them runs a rule."""
    reply = SavedReplyFactory(scope="global", body="We got your invoice question.")
    _rule(channel, text_contains="invoice", add_tag=TagFactory(name="invoice"),
          send_saved_reply=reply)
    customer_writes(client, "invoice?", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(channel=channel)
    [fired] = _automation_events(conversation)
    assert fired.data["actions"]["saved_reply"] == "done"
    outbound = conversation.messages.get(direction=Message.Direction.OUTBOUND)
    assert outbound.body == "We got your invoice question."
    assert outbound.author is None

    # The announcement of the rule's own message, even were it announced as received, is ignored
    # while the rule runs; run on its own it is no customer message, so no rule sees it.
    assert engine.run([outbound.pk], opened=set()) == 0
    assert len(_automation_events(conversation)) == 1

    # A second customer message fires the rule once more (once per customer message).
    customer_writes(client, "another invoice", django_capture_on_commit_callbacks)
    assert len(_automation_events(conversation)) == 2


def test_announcements_during_a_rule_run_do_not_start_rules(channel, monkeypatch):
    calls = []
    monkeypatch.setattr(engine, "run", lambda ids, opened: calls.append(ids) or 0)
    token = actions.running.set(True)
    try:
        engine.on_message_received(None, message_ids=[1, 2])
    finally:
        actions.running.reset(token)
    assert calls == []
    engine.on_message_received(None, message_ids=[3])
    assert calls == [[3]]


def test_rules_run_in_order_and_stop_processing_ends_the_run(
    client, channel, django_capture_on_commit_callbacks
):
    first = _rule(channel, name="first", position=1, text_contains="help",
                  add_tag=TagFactory(name="a"), stop_processing=True)
    _rule(channel, name="second", position=2, text_contains="help", add_tag=TagFactory(name="b"))
    customer_writes(client, "help", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(channel=channel)
    assert [e.data["rule"] for e in _automation_events(conversation)] == [first.pk]
    assert list(conversation.tags.values_list("name", flat=True)) == ["a"]


def test_new_conversation_condition_and_resolve_action(
    client, channel, django_capture_on_commit_callbacks
):
    _rule(channel, name="greet", conversation_is="new", add_tag=TagFactory(name="first-contact"))
    _rule(channel, name="thanks closes", text_pattern=r"^\s*thanks?\b", resolve=True)
    customer_writes(client, "hello", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(channel=channel)
    assert list(conversation.tags.values_list("name", flat=True)) == ["first-contact"]
    customer_writes(client, "Thanks!", django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED
    # "greet" fired only on the message that opened the conversation.
    assert [e.data["name"] for e in _automation_events(conversation)] == ["greet", "thanks closes"]


def test_outside_business_hours_condition_never_holds_on_an_always_open_channel(
    client, channel, django_capture_on_commit_callbacks
):
    _rule(channel, business_hours="closed", add_tag=TagFactory(name="after-hours"))
    _rule(channel, business_hours="open", add_tag=TagFactory(name="in-hours"))
    customer_writes(client, "hi", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(channel=channel)
    assert list(conversation.tags.values_list("name", flat=True)) == ["in-hours"]


def test_catastrophic_patterns_are_refused_and_slow_ones_time_out(channel):
    form = AutomationRuleForm(data={"channel": channel.pk, "name": "bad", "position": 0,
                                    "text_pattern": "(a+)+$", "resolve": "on"})
    assert not form.is_valid()
    assert "text_pattern" in form.errors
    form = AutomationRuleForm(data={"channel": channel.pk, "name": "bad", "position": 0,
                                    "text_pattern": "([a-z", "resolve": "on"})
    assert "text_pattern" in form.errors
    # One that passes the check but backtracks: given 50 ms, then "no match".
    started = time.monotonic()
    assert conditions.pattern_matches(r"^(a|aa)+$", "a" * 4000 + "b") is False
    assert time.monotonic() - started < 1.0


def test_a_rule_needs_an_action(channel):
    form = AutomationRuleForm(data={"channel": channel.pk, "name": "nothing", "position": 0,
                                    "text_contains": "hi"})
    assert not form.is_valid()
    assert "at least one action" in str(form.errors)


@pytest.mark.parametrize("language", ["en", "de"])
def test_admin_pages_of_rules(client, channel, language):
    admin = AdminUserFactory()
    client.force_login(admin)
    _rule(channel, name="Invoices", text_contains="invoice", add_tag=TagFactory(name="invoice"))
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    listing = client.get(reverse("admin:automations_automationrule_changelist"), **headers)
    assert listing.status_code == 200
    assert "Invoices" in listing.content.decode()
    add = client.get(reverse("admin:automations_automationrule_add"), **headers)
    assert add.status_code == 200
    agent = UserFactory()
    client.force_login(agent)
    denied = client.get(reverse("admin:automations_automationrule_changelist"))
    assert denied.status_code in (302, 403)
