"""Admin pages of the conversation app: access via channels_app.access, no per-row queries."""

import pytest
from django.urls import reverse

from conversations.models import Conversation
from tests.factories import ConversationFactory, TagFactory, TopicFactory, UserFactory


@pytest.mark.parametrize("model", ["tag", "topic", "conversation"])
def test_admin_changelists_open_for_admins(client, cast, model):
    TagFactory()
    TopicFactory()
    ConversationFactory(channel=cast.channel)
    client.force_login(cast.admin)
    assert client.get(reverse(f"admin:conversations_{model}_changelist")).status_code == 200


def test_staff_without_the_admin_role_is_kept_out(client, cast):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    for model in ["tag", "topic", "conversation"]:
        assert client.get(reverse(f"admin:conversations_{model}_changelist")).status_code == 403


def test_admin_manages_tags_and_topics(client, cast):
    client.force_login(cast.admin)
    client.post(reverse("admin:conversations_tag_add"), {"name": "vip", "color": "#7c3aed"})
    client.post(reverse("admin:conversations_topic_add"), {"name": "Returns", "description": ""})
    assert client.get(reverse("admin:conversations_tag_changelist")).content.decode().count("vip")


def test_conversations_are_read_only_in_the_admin(client, cast):
    conv = ConversationFactory(channel=cast.channel)
    client.force_login(cast.admin)
    assert client.get(reverse("admin:conversations_conversation_add")).status_code == 403
    change = reverse("admin:conversations_conversation_change", args=[conv.pk])
    assert client.get(change).status_code == 200
    client.post(change, {"status": "resolved"})
    assert Conversation.objects.get().status == Conversation.Status.NEW


def test_conversation_changelist_query_count_is_constant(
    client, cast, django_assert_max_num_queries
):
    client.force_login(cast.admin)
    ConversationFactory(channel=cast.channel, assignee=cast.contributor)
    url = reverse("admin:conversations_conversation_changelist")
    client.get(url)
    with django_assert_max_num_queries(12) as small:
        client.get(url)
    for _ in range(40):
        ConversationFactory(channel=cast.channel, assignee=cast.contributor)
    with django_assert_max_num_queries(12) as big:
        assert client.get(url).status_code == 200
    assert len(big.captured_queries) == len(small.captured_queries)
