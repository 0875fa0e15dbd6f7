"""Status moves, assignment, tags, topics and notes: one Event per change, rules from DESIGN.md."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, Event
from tests.factories import ContactFactory, ConversationFactory, TagFactory, TopicFactory

NOW = timezone.now().replace(microsecond=0)
EARLIER = NOW - timedelta(hours=2)
S = Conversation.Status


@pytest.fixture
def conv(cast):
    return ConversationFactory(channel=cast.channel, opened_at=EARLIER, last_activity_at=EARLIER)


def fresh(conversation):
    return Conversation.objects.select_related("channel").get(pk=conversation.pk)


def kinds(conversation):
    return list(conversation.events.order_by("id").values_list("kind", flat=True))


@pytest.mark.parametrize(
    "persona", ["viewer", "contributor", "supervisor", "admin", "team_contributor"]
)
def test_every_role_may_move_to_pending(cast, conv, persona):
    actor = getattr(cast, persona)
    services.move_conversation(fresh(conv), to=S.PENDING, actor=actor, now=NOW)
    conv.refresh_from_db()
    assert conv.status == S.PENDING
    assert conv.last_activity_at == NOW
    event = conv.events.get()
    assert (event.kind, event.actor, event.data) == (
        Event.Kind.STATUS_CHANGED,
        actor,
        {"from": "new", "to": "pending"},
    )


def test_outsider_cannot_move_a_conversation(cast, conv):
    with pytest.raises(Http404):
        services.move_conversation(fresh(conv), to=S.PENDING, actor=cast.outsider, now=NOW)
    assert fresh(conv).status == S.NEW


def test_moving_to_the_same_status_is_a_no_op(cast, conv):
    services.move_conversation(fresh(conv), to=S.NEW, actor=cast.viewer, now=NOW)
    assert kinds(conv) == []
    assert fresh(conv).last_activity_at == EARLIER


def test_unknown_status_is_refused(cast, conv):
    with pytest.raises(services.DomainError):
        services.move_conversation(fresh(conv), to="archived", actor=cast.viewer, now=NOW)


def test_resolving_clears_the_assignee_and_records_why(cast, conv):
    services.assign(fresh(conv), assignee=cast.contributor, actor=cast.supervisor, now=EARLIER)
    services.move_conversation(fresh(conv), to=S.RESOLVED, actor=cast.viewer, now=NOW)
    conv.refresh_from_db()

    assert conv.status == S.RESOLVED
    assert conv.assignee is None
    assert conv.resolved_at == NOW
    assert conv.resolution == Conversation.Resolution.AGENT
    assert kinds(conv) == [Event.Kind.ASSIGNED, Event.Kind.STATUS_CHANGED, Event.Kind.UNASSIGNED]
    unassigned = conv.events.get(kind=Event.Kind.UNASSIGNED)
    assert unassigned.data["from"]["id"] == cast.contributor.pk


def test_reopening_a_resolved_conversation_is_recorded_as_a_reopen(cast):
    conv = ConversationFactory(
        channel=cast.channel, status=S.RESOLVED, resolved_at=EARLIER, resolution="agent"
    )
    services.move_conversation(fresh(conv), to=S.PENDING, actor=cast.viewer, now=NOW)
    conv.refresh_from_db()
    assert conv.status == S.PENDING
    assert conv.resolved_at is None and conv.resolution == ""
    assert conv.events.get().data == {"from": "resolved", "to": "pending", "reopened": True}


def test_reopen_is_refused_when_the_contact_has_another_open_conversation(cast):
    contact = ContactFactory()
    old = ConversationFactory(channel=cast.channel, contact=contact, status=S.RESOLVED)
    ConversationFactory(channel=cast.channel, contact=contact, status=S.NEW)
    with pytest.raises(services.DomainError) as exc:
        services.move_conversation(fresh(old), to=S.NEW, actor=cast.viewer, now=NOW)
    assert exc.value.message == str(services.ANOTHER_OPEN)
    assert fresh(old).status == S.RESOLVED
    assert kinds(old) == []


def test_assign_and_unassign_write_one_event_each_and_leave_activity_alone(cast, conv):
    services.assign(fresh(conv), assignee=cast.contributor, actor=cast.supervisor, now=NOW)
    services.assign(fresh(conv), assignee=cast.contributor, actor=cast.supervisor, now=NOW)
    services.unassign(fresh(conv), actor=cast.supervisor, now=NOW)
    services.unassign(fresh(conv), actor=cast.supervisor, now=NOW)
    conv.refresh_from_db()
    assert conv.assignee is None
    assert kinds(conv) == [Event.Kind.ASSIGNED, Event.Kind.UNASSIGNED]
    assert conv.last_activity_at == EARLIER


def test_assignee_without_access_is_refused(cast, conv):
    with pytest.raises(services.DomainError) as exc:
        services.assign(fresh(conv), assignee=cast.outsider, actor=cast.supervisor, now=NOW)
    assert exc.value.message == str(services.ASSIGNEE_NO_ACCESS)


def test_a_viewer_cannot_be_assigned_even_by_an_admin(cast, conv):
    # The assignee check must use the assignee's role, not the actor's cached one (ADMIN).
    with pytest.raises(services.AssigneeNotAllowed) as exc:
        services.assign(fresh(conv), assignee=cast.viewer, actor=cast.admin, now=NOW)
    assert exc.value.message == str(services.ASSIGNEE_NO_ACCESS)
    assert fresh(conv).assignee is None
    assert kinds(conv) == []


def test_a_viewer_can_assign_nobody_nor_unassign(cast, conv):
    services.assign(fresh(conv), assignee=cast.contributor, actor=cast.supervisor, now=NOW)
    for change in (
        lambda: services.assign(
            fresh(conv), assignee=cast.supervisor, actor=cast.viewer, now=NOW
        ),
        lambda: services.unassign(fresh(conv), actor=cast.viewer, now=NOW),
    ):
        with pytest.raises(PermissionDenied) as exc:
            change()
        assert "Contributor" in str(exc.value)
    assert fresh(conv).assignee == cast.contributor


def test_a_contributor_assigns_anyone_who_can_reply(cast, conv):
    # tom_team replies through his team's grant; the admin through being an admin.
    for assignee in (cast.team_contributor, cast.supervisor, cast.admin, cast.contributor):
        services.assign(fresh(conv), assignee=assignee, actor=cast.contributor, now=NOW)
        assert fresh(conv).assignee == assignee


def test_resolved_conversation_cannot_be_assigned(cast):
    conv = ConversationFactory(channel=cast.channel, status=S.RESOLVED)
    with pytest.raises(services.DomainError) as exc:
        services.assign(fresh(conv), assignee=cast.contributor, actor=cast.supervisor, now=NOW)
    assert exc.value.message == str(services.ASSIGN_RESOLVED)


def test_tags_and_topics_add_and_remove_once_each(cast, conv):
    tag, topic = TagFactory(name="vip"), TopicFactory(name="Shipping")
    for _ in range(2):
        services.add_tag(fresh(conv), tag=tag, actor=cast.viewer, now=NOW)
        services.add_topic(fresh(conv), topic=topic, actor=cast.viewer, now=NOW)
    assert list(conv.tags.all()) == [tag]
    assert list(conv.topics.all()) == [topic]
    for _ in range(2):
        services.remove_tag(fresh(conv), tag=tag, actor=cast.viewer, now=NOW)
        services.remove_topic(fresh(conv), topic=topic, actor=cast.viewer, now=NOW)
    assert not conv.tags.exists() and not conv.topics.exists()
    assert kinds(conv) == [
        Event.Kind.TAG_ADDED,
        Event.Kind.TOPIC_ADDED,
        Event.Kind.TAG_REMOVED,
        Event.Kind.TOPIC_REMOVED,
    ]
    assert conv.events.first().data == {"id": tag.pk, "name": "vip"}
    assert fresh(conv).last_activity_at == EARLIER


def test_note_is_stored_with_an_event_and_does_not_count_as_activity(cast, conv):
    note = services.add_note(fresh(conv), body="  Called the courier  ", actor=cast.viewer, now=NOW)
    assert note.body == "Called the courier"
    assert note.author == cast.viewer
    event = conv.events.get()
    assert (event.kind, event.data) == (Event.Kind.NOTE_ADDED, {"note": note.pk})
    assert fresh(conv).last_activity_at == EARLIER


def test_empty_note_is_refused(cast, conv):
    with pytest.raises(services.DomainError) as exc:
        services.add_note(fresh(conv), body="   ", actor=cast.viewer, now=NOW)
    assert exc.value.message == str(services.EMPTY_NOTE)


def test_outsider_cannot_annotate(cast, conv):
    with pytest.raises(Http404):
        services.add_tag(fresh(conv), tag=TagFactory(), actor=cast.outsider, now=NOW)
