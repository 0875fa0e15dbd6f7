"""The top bar's availability switch and the live monitor page (access, figures, fragment)."""

import pytest
from django.urls import reverse

from routing import presence
from routing.models import AgentState, ChannelRouting
from tests.factories import ContactFactory, ConversationFactory
from tests.routing.conftest import available

pytestmark = pytest.mark.django_db


def test_the_top_bar_shows_the_switch_and_sets_the_availability(cast, client):
    client.force_login(cast.contributor)
    page = client.get(reverse("conversations:inbox")).content.decode()
    assert 'id="availability-select"' in page
    assert 'data-availability="offline"' in page
    response = client.post(
        reverse("routing:availability"), {"availability": "available", "next": "/inbox/"}
    )
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    assert presence.availability_of(cast.contributor) == "available"
    page = client.get(reverse("conversations:inbox")).content.decode()
    assert 'data-availability="available"' in page


def test_an_unknown_availability_is_a_400_with_the_reason(cast, client):
    client.force_login(cast.contributor)
    response = client.post(reverse("routing:availability"), {"availability": "busy"})
    assert response.status_code == 400
    assert b"Available, Away or Offline" in response.content


def test_the_switch_never_redirects_off_site(cast, client):
    client.force_login(cast.contributor)
    response = client.post(
        reverse("routing:availability"),
        {"availability": "away", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_the_monitor_is_for_supervisors(cast, client):
    for user in (cast.viewer, cast.contributor, cast.outsider):
        client.force_login(user)
        response = client.get(reverse("routing:monitor"))
        assert response.status_code == 403, user
        assert b"Only Supervisors" in response.content
    client.force_login(cast.supervisor)
    assert client.get(reverse("routing:monitor")).status_code == 200


def test_the_monitor_link_is_in_a_supervisors_top_bar_only(cast, client):
    client.force_login(cast.contributor)
    assert b'href="/monitor/"' not in client.get(reverse("conversations:inbox")).content
    client.force_login(cast.supervisor)
    assert b'href="/monitor/"' in client.get(reverse("conversations:inbox")).content


def test_the_monitor_shows_queues_oldest_waiting_customer_and_agents(cast, client):
    ChannelRouting.objects.create(channel=cast.channel, push=True)
    AgentState.objects.create(user=cast.contributor, capacity=4)
    available(cast.contributor)
    presence.set_availability(cast.team_contributor, "away")
    oldest = ConversationFactory(channel=cast.channel, contact=ContactFactory(profile_name="Ola"))
    ConversationFactory(channel=cast.channel, assignee=cast.contributor)
    ConversationFactory(channel=cast.channel, status="pending", assignee=cast.contributor)
    ConversationFactory(channel=cast.other_channel)  # not supervised: not counted
    client.force_login(cast.supervisor)
    page = client.get(reverse("routing:monitor") + "?fragment=1").content.decode()
    assert "Acme Support" in page and "Other Brand" not in page
    assert '<dd data-figure="new">2</dd>' in page
    assert '<dd data-figure="unassigned">1</dd>' in page
    assert '<dd data-figure="pending">1</dd>' in page
    assert f'href="/conversations/{oldest.pk}/"' in page
    assert "2 of 4" in page  # the contributor's load and capacity
    assert "Available" in page and "Away" in page
    # Viewers are not agents of the monitor (they are never routed anything).
    assert cast.viewer.get_full_name() not in page


def test_the_monitor_speaks_german(cast, client):
    client.force_login(cast.supervisor)
    page = client.get(reverse("routing:monitor"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Ältester wartender Kunde" in page
