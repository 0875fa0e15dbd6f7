"""The contact's earlier conversations on the conversation page: one query, with the user's
role computed on the contact's rows (none for an admin), wherever those conversations are. What
each persona sees stays the same.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from channels_app import access
from channels_app.access import Role
from conversations import queries
from conversations.access import conversation_for
from conversations.models import Conversation
from tests.factories import ContactFactory, ConversationFactory, GrantFactory, UserFactory

S = Conversation.Status


def _fresh(user):
    """The user as a new request loads it: no permission or admin answer cached on it."""
    return type(user).objects.get(pk=user.pk)


def _permission_admin(username: str, *, via_group: bool):
    user = UserFactory(username=username)
    permission = Permission.objects.get(codename="administer_channels")
    if via_group:
        group = Group.objects.create(name=f"{username} admins")
        group.permissions.add(permission)
        user.groups.add(group)
    else:
        user.user_permissions.add(permission)
    return _fresh(user)


@pytest.fixture
def contact_on_two_channels(cast):
    """A contact's current conversation on cast.channel, an older one on each channel."""
    contact = ContactFactory()
    current = ConversationFactory(channel=cast.channel, contact=contact)
    same = ConversationFactory(channel=cast.channel, contact=contact, status=S.RESOLVED)
    other = ConversationFactory(channel=cast.other_channel, contact=contact, status=S.RESOLVED)
    return current, same, other


def test_history_on_the_page_channel_alone_is_one_query(cast, django_assert_num_queries):
    contact = ContactFactory()
    current = ConversationFactory(channel=cast.channel, contact=contact)
    older = [
        ConversationFactory(channel=cast.channel, contact=contact, status=S.RESOLVED)
        for _ in range(3)
    ]
    viewer = _fresh(cast.viewer)
    loaded = conversation_for(viewer, current.pk)
    with django_assert_num_queries(1):
        history = queries.contact_history(loaded, viewer)
    assert {c.pk for c in history} == {c.pk for c in older}


def test_history_on_another_channel_shows_it_only_to_those_who_see_that_channel(
    cast, contact_on_two_channels, django_assert_num_queries
):
    current, same, other = contact_on_two_channels
    both = UserFactory(username="bo_both_channels")
    GrantFactory(channel=cast.channel, user=both, role=Role.VIEWER)
    GrantFactory(channel=cast.other_channel, user=both, role=Role.VIEWER)
    expected = {
        cast.viewer: [same],
        both: [other, same],  # newest first
        cast.admin: [other, same],
        _permission_admin("pia_admin", via_group=False): [other, same],
        _permission_admin("gil_group_admin", via_group=True): [other, same],
    }
    for user, shown in expected.items():
        user = _fresh(user)
        loaded = conversation_for(user, current.pk)
        # One read, with the roles on the contact's rows (none for an admin).
        with django_assert_num_queries(1) as captured:
            history = queries.contact_history(loaded, user)
        assert ("accessgrant" in captured.captured_queries[0]["sql"]) != access.is_admin(user)
        assert [c.pk for c in history] == [c.pk for c in shown], user


def test_history_keeps_the_newest_visible_ones_beyond_invisible_ones(cast):
    contact = ContactFactory()
    current = ConversationFactory(channel=cast.channel, contact=contact)
    visible = [
        ConversationFactory(channel=cast.channel, contact=contact, status=S.RESOLVED)
        for _ in range(3)
    ]
    # Newer than every visible one, and more than the panel shows: all on a hidden channel.
    newer = max(c.opened_at for c in visible) + timedelta(minutes=1)
    for _ in range(queries.HISTORY_LIMIT + 2):
        ConversationFactory(
            channel=cast.other_channel, contact=contact, status=S.RESOLVED, opened_at=newer
        )
    viewer = _fresh(cast.viewer)
    history = queries.contact_history(conversation_for(viewer, current.pk), viewer)
    assert {c.pk for c in history} == {c.pk for c in visible}


def test_page_with_history_on_another_channel_costs_no_query_more(
    client, cast, contact_on_two_channels, django_assert_num_queries
):
    current, same, other = contact_on_two_channels
    client.force_login(cast.viewer)
    url = reverse("conversations:detail", args=[current.pk])
    client.get(url)  # warm the session
    # As pinned in test_views_detail for a Contributor's latest page (14), less the assign
    # picker, which a Viewer does not get: the history reads the roles of the contact's
    # conversations in its one query.
    with django_assert_num_queries(13):
        html = client.get(url).content.decode()
    assert reverse("conversations:detail", args=[same.pk]) in html
    assert reverse("conversations:detail", args=[other.pk]) not in html


def test_a_superuser_page_has_no_permission_to_check(client, cast, django_assert_num_queries):
    conv = ConversationFactory(channel=cast.channel)
    client.force_login(cast.admin)
    url = reverse("conversations:detail", args=[conv.pk])
    client.get(url)  # warm the session
    # The pinned 11 (test_views_detail) but the admin-permission check and the reports link's
    # query: a superuser is an admin, and admins see every report.
    # + the top bar's availability (routing), the reactions (composer), the opt-out (automations).
    with django_assert_num_queries(12):
        assert client.get(url).status_code == 200
