"""A customer's CSAT answer comes in after the resolve, through the real webhook and inbound
writer: it is stored on the survey, and the conversation it opened is resolved by the system at
once (resolution "survey_answer"), so the agents' New queue does not grow; the awaited comment is
stored on the survey but stays in New (free text may be a new request an agent must see); the
customer's next ordinary message still opens a New conversation. SQLite and
PostgreSQL alike (run with DATABASE_URL)."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, Event, Message
from service_levels import receivers
from service_levels.models import CsatSurvey
from tests.factories import ChannelFactory, ContactFactory, ConversationFactory, UserFactory
from tests.service_levels.conftest import ServiceSettingsFactory
from tests.whatsapp.conftest import APP_SECRET, fixture_json, post_signed

PNID = "109876543210987"  # the fixtures' phone_number_id
WA_ID = "15555550123"  # the fixtures' customer
MIN = timedelta(minutes=1)


@pytest.fixture
def world(db, settings):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    channel = ChannelFactory(phone_number_id=PNID)
    conf = ServiceSettingsFactory(channel=channel, time_zone="UTC", csat_enabled=True)
    now = timezone.now()
    agent = UserFactory()
    contact = ContactFactory(wa_id=WA_ID)
    surveyed = ConversationFactory(
        channel=channel,
        contact=contact,
        status=Conversation.Status.RESOLVED,
        resolution=Conversation.Resolution.AGENT,
        resolved_by=agent,
        resolved_at=now - 30 * MIN,
        opened_at=now - 60 * MIN,
        last_activity_at=now - 30 * MIN,
        last_customer_message_at=now - 40 * MIN,
    )
    survey = CsatSurvey.objects.create(
        conversation=surveyed,
        channel=channel,
        contact=contact,
        agent=agent,
        state=CsatSurvey.State.SENT,
        resolved_at=now - 30 * MIN,
        due_at=now - 20 * MIN,
        sent_at=now - 20 * MIN,
    )
    # Someone else waiting in New, so the queue is not empty to begin with.
    ConversationFactory(channel=channel, status=Conversation.Status.NEW)
    return channel, conf, surveyed, survey


def _new_count(channel) -> int:
    return Conversation.objects.filter(channel=channel, status=Conversation.Status.NEW).count()


def _post(client, capture, name, wamid, **message):
    payload = copy.deepcopy(fixture_json(name))
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"][0].update(id=wamid, timestamp=str(int(timezone.now().timestamp())))
    for key, item in message.items():
        value["messages"][0][key] = item
    with capture(execute=True):
        response = post_signed(client, payload)
    assert response.status_code == 200, response.content
    return Message.objects.get(provider_message_id=wamid).conversation


def _list_reply(survey_id, score):
    return {
        "type": "list_reply",
        "list_reply": {"id": f"csat:{survey_id}:{score}", "title": f"{score} " + "★" * score},
    }


def _assert_resolved_as_answer(conversation, surveyed):
    conversation.refresh_from_db()
    assert conversation.pk != surveyed.pk
    assert (conversation.status, conversation.resolution) == ("resolved", "survey_answer")
    assert (conversation.assignee_id, conversation.resolved_by_id) == (None, None)
    event = Event.objects.get(conversation=conversation, kind=Event.Kind.STATUS_CHANGED)
    assert (event.actor_id, event.data) == (
        None,
        {"from": "new", "to": "resolved", "reason": "survey_answer"},
    )


def _normal_message_opens_new(client, capture, channel, before):
    conversation = _post(
        client, capture, "text_reply", "wamid.AFTER", text={"body": "I have another question"}
    )
    assert conversation.status == Conversation.Status.NEW
    assert _new_count(channel) == before + 1


def test_a_list_reply_answer_is_stored_and_its_conversation_resolved(
    client, world, django_capture_on_commit_callbacks
):
    channel, _conf, surveyed, survey = world
    before = _new_count(channel)
    capture = django_capture_on_commit_callbacks
    conversation = _post(
        client,
        capture,
        "interactive_list_reply",
        "wamid.ANSWER",
        interactive=_list_reply(survey.pk, 4),
    )
    assert _new_count(channel) == before
    survey.refresh_from_db()
    assert (survey.state, survey.score) == ("answered", 4)
    _assert_resolved_as_answer(conversation, surveyed)
    # No auto-reply nor anything else was sent into it.
    assert not Message.objects.filter(conversation=conversation, direction="out").exists()
    _normal_message_opens_new(client, capture, channel, before)


def test_a_template_quick_reply_answer_is_resolved_too(
    client, world, django_capture_on_commit_callbacks
):
    channel, _conf, surveyed, survey = world
    before = _new_count(channel)
    capture = django_capture_on_commit_callbacks
    conversation = _post(
        client, capture, "button", "wamid.BUTTON", button={"payload": "csat:5", "text": "5"}
    )
    assert _new_count(channel) == before
    survey.refresh_from_db()
    assert (survey.state, survey.score) == ("answered", 5)
    _assert_resolved_as_answer(conversation, surveyed)
    _normal_message_opens_new(client, capture, channel, before)


def test_the_awaited_comment_is_stored_and_stays_in_new_for_an_agent(
    client, world, django_capture_on_commit_callbacks
):
    channel, conf, surveyed, survey = world
    conf.csat_comment_question = "Anything we could do better?"
    conf.save()
    before = _new_count(channel)
    capture = django_capture_on_commit_callbacks
    answer = _post(
        client,
        capture,
        "interactive_list_reply",
        "wamid.ANSWER",
        interactive=_list_reply(survey.pk, 3),
    )
    _assert_resolved_as_answer(answer, surveyed)
    question = Message.objects.get(conversation=answer, direction="out")
    assert question.body == "Anything we could do better?"
    comment = _post(
        client, capture, "text_reply", "wamid.COMMENT", text={"body": "Faster replies, please."}
    )
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (3, "Faster replies, please.")
    # Free text may be a new request: it is never resolved unseen.
    assert comment.status == Conversation.Status.NEW
    assert _new_count(channel) == before + 1


def test_an_answer_to_no_sent_survey_stays_in_new(
    client, world, django_capture_on_commit_callbacks
):
    channel, _conf, _surveyed, survey = world
    before = _new_count(channel)
    conversation = _post(
        client,
        django_capture_on_commit_callbacks,
        "interactive_list_reply",
        "wamid.STRAY",
        interactive=_list_reply(survey.pk + 1000, 2),
    )
    assert conversation.status == Conversation.Status.NEW
    assert _new_count(channel) == before + 1
    survey.refresh_from_db()
    assert (survey.state, survey.score) == ("sent", None)


def _surveys(channel, count, start):
    now = timezone.now()
    made = []
    for n in range(start, start + count):
        contact = ContactFactory(wa_id=f"4917000{n:05d}")
        conv = ConversationFactory(
            channel=channel,
            contact=contact,
            status=Conversation.Status.RESOLVED,
            resolution=Conversation.Resolution.AGENT,
            resolved_at=now - 30 * MIN,
            last_activity_at=now - 30 * MIN,
        )
        made.append(
            CsatSurvey.objects.create(
                conversation=conv,
                channel=channel,
                contact=contact,
                state=CsatSurvey.State.SENT,
                resolved_at=now - 30 * MIN,
                due_at=now - 20 * MIN,
                sent_at=now - 20 * MIN,
            )
        )
    return made


def _receiver_queries(client, capture, surveys) -> int:
    """The answers of ``surveys`` in one webhook batch; the queries of service_levels' receiver
    for its announcement."""
    payload = copy.deepcopy(fixture_json("interactive_list_reply"))
    value = payload["entry"][0]["changes"][0]["value"]
    template = value["messages"][0]
    stamp = str(int(timezone.now().timestamp()))
    value["contacts"] = [{"profile": {"name": "C"}, "wa_id": s.contact.wa_id} for s in surveys]
    value["messages"] = [
        {
            **template,
            "from": s.contact.wa_id,
            "id": f"wamid.BATCH{s.pk}",
            "timestamp": stamp,
            "interactive": _list_reply(s.pk, 5),
        }
        for s in surveys
    ]
    with capture(execute=False) as callbacks:
        assert post_signed(client, payload).status_code == 200
    wamids = [f"wamid.BATCH{s.pk}" for s in surveys]
    ids = list(Message.objects.filter(provider_message_id__in=wamids).values_list("pk", flat=True))
    created = list(
        Conversation.objects.filter(messages__pk__in=ids).values_list("pk", flat=True).distinct()
    )
    del callbacks[:]
    with CaptureQueriesContext(connection) as queries:
        receivers.on_message_received(
            sender=None, message_ids=ids, created_conversation_ids=created
        )
    return len(queries)


def test_the_receiver_costs_the_same_queries_for_2_and_8_answers(
    client, world, django_capture_on_commit_callbacks
):
    channel, *_ = world
    capture = django_capture_on_commit_callbacks
    small = _receiver_queries(client, capture, _surveys(channel, 2, 0))
    large = _receiver_queries(client, capture, _surveys(channel, 8, 100))
    assert small == large
    assert CsatSurvey.objects.filter(score=5).count() == 10
    assert not Conversation.objects.filter(
        channel=channel, status="new", contact__wa_id__startswith="4917000"
    ).exists()
    assert Conversation.objects.filter(channel=channel, resolution="survey_answer").count() == 10
