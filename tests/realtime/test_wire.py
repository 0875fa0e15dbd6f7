"""The socket on the wire: who receives which push, and what happens when access changes.

A real uvicorn serving config.asgi, real websocket clients (the ``websockets`` package), the
real channel layer of the settings (Redis pub/sub in CI, the database bus without Redis).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
import websockets
from channels.layers import InMemoryChannelLayer
from django.utils import timezone

from channels_app.access import Role
from channels_app.models import AccessGrant
from conversations.services import autoresolve
from realtime import bus, push
from realtime.receivers import BULK_ROWS
from tests.factories import ConversationFactory, GrantFactory
from tests.realtime.conftest import read_until, run_scenario, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _orm_in_the_scenarios(monkeypatch):
    """The scenarios sign users in (a session row) between awaits; nothing else runs there."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _connect(server, user=None, lang="en"):
    headers = {"Origin": server.url}
    if user is not None:
        headers["Cookie"] = f"sessionid={session_cookie(user)}"
    url = server.url.replace("http://", "ws://") + f"/ws/desk/?lang={lang}"
    return websockets.connect(url, additional_headers=headers, open_timeout=10)


async def _ready(ws):
    """The socket has joined its groups once it answers a ping (joins come before)."""
    await ws.send(json.dumps({"type": "ping"}))
    assert await read_until(ws, lambda f: f["kind"] == "pong")


def _kind(kind):
    return lambda frame: frame["kind"] == kind


def test_a_push_reaches_who_may_see_the_channel_and_nobody_else(live_desk, cast):
    async def scenario():
        async with (
            _connect(live_desk, cast.contributor) as agent,
            _connect(live_desk, cast.outsider) as outsider,
            _connect(live_desk, cast.supervisor, lang="de") as supervisor,
        ):
            for ws in (agent, outsider, supervisor):
                await _ready(ws)
            await asyncio.to_thread(
                push.push_to_channel,
                cast.channel.pk,
                "hello",
                {"n": 1},
                by_language={"en": {"word": "hello"}, "de": {"word": "hallo"}},
            )
            await asyncio.to_thread(push.push_to_supervisors, cast.channel.pk, "sup", {"n": 2})
            await asyncio.to_thread(push.push_to_user, cast.outsider.pk, "mine", {"n": 3})
            await asyncio.to_thread(push.push_to_channel, cast.other_channel.pk, "other", {})
            got_agent = await read_until(agent, _kind("hello"))
            got_supervisor = await read_until(supervisor, _kind("sup"))
            assert got_agent == {"kind": "hello", "data": {"n": 1, "word": "hello"}}
            # The German page got the German values; published first, so read before "sup".
            hello = [f for f in supervisor.seen if f["kind"] == "hello"]
            assert hello == [{"kind": "hello", "data": {"n": 1, "word": "hallo"}}]
            assert got_supervisor["data"] == {"n": 2}
            assert await read_until(outsider, _kind("mine"))
            # Nothing else arrives within a second: no channel push for the outsider, no
            # Supervisors' push for the Contributor, nobody hears the other channel.
            await asyncio.sleep(1.0)
            await read_until(agent, lambda f: False, timeout=0.2)
            await read_until(outsider, lambda f: False, timeout=0.2)
            ours = {"hello", "sup", "mine", "other"}  # routing pushes availability too
            assert [f["kind"] for f in agent.seen if f["kind"] in ours] == ["hello"]
            assert [f["kind"] for f in outsider.seen if f["kind"] in ours] == ["mine"]

    run_scenario(scenario)


def test_an_agent_who_loses_access_stops_receiving_at_once_and_gets_it_back(live_desk, cast):
    grant = AccessGrant.objects.get(channel=cast.channel, user=cast.contributor)

    async def scenario():
        async with _connect(live_desk, cast.contributor) as agent:
            await _ready(agent)
            await asyncio.to_thread(push.push_to_channel, cast.channel.pk, "before", {})
            assert await read_until(agent, _kind("before"))

            await asyncio.to_thread(grant.delete)  # the admin removes the grant
            assert await read_until(agent, _kind("access"))
            await asyncio.to_thread(push.push_to_channel, cast.channel.pk, "after", {})
            assert await read_until(agent, _kind("after"), timeout=1.5) is None

            await asyncio.to_thread(
                GrantFactory, channel=cast.channel, user=cast.contributor, role=Role.VIEWER
            )
            assert await read_until(agent, _kind("access"))
            await asyncio.to_thread(push.push_to_channel, cast.channel.pk, "again", {})
            assert await read_until(agent, _kind("again"))

    run_scenario(scenario)


def test_a_team_member_removed_from_the_team_stops_receiving(live_desk, cast):
    async def scenario():
        async with _connect(live_desk, cast.team_contributor) as agent:
            await _ready(agent)
            await asyncio.to_thread(cast.team.members.remove, cast.team_contributor)
            assert await read_until(agent, _kind("access"))
            await asyncio.to_thread(push.push_to_channel, cast.channel.pk, "after", {})
            assert await read_until(agent, _kind("after"), timeout=1.5) is None

    run_scenario(scenario)


def test_a_socket_without_a_session_is_closed(live_desk):
    async def scenario():
        async with _connect(live_desk) as anonymous:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(anonymous.recv(), 5)
            assert closed.value.rcvd.code == 4401

    run_scenario(scenario)


def test_a_socket_from_another_origin_is_refused(live_desk, cast):
    url = live_desk.url.replace("http://", "ws://") + "/ws/desk/"
    headers = {
        "Origin": "https://evil.example",
        "Cookie": f"sessionid={session_cookie(cast.viewer)}",
    }

    async def scenario():
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url, additional_headers=headers, open_timeout=10):
                pass

    run_scenario(scenario)


def test_viewers_see_each_other_and_who_is_typing_but_only_with_access(live_desk, cast):
    conversation = ConversationFactory(channel=cast.channel)
    hidden = ConversationFactory(channel=cast.other_channel)
    cast.contributor.first_name = "Carla"
    cast.contributor.save()

    async def scenario():
        async with (
            _connect(live_desk, cast.contributor) as carla,
            _connect(live_desk, cast.supervisor) as sam,
            _connect(live_desk, cast.outsider) as olga,
        ):
            for ws in (carla, sam, olga):
                await _ready(ws)
            await carla.send(json.dumps({"type": "view", "conversation_id": conversation.pk}))
            await sam.send(json.dumps({"type": "view", "conversation_id": conversation.pk}))
            await olga.send(json.dumps({"type": "view", "conversation_id": conversation.pk}))
            await olga.send(json.dumps({"type": "view", "conversation_id": hidden.pk}))
            joined = await read_until(carla, _kind("viewer"))
            assert joined["data"]["user_id"] == cast.supervisor.pk
            present = await read_until(sam, _kind("viewer"))
            assert present["data"]["user_id"] == cast.contributor.pk
            await carla.send(json.dumps({"type": "typing", "typing": True}))
            typing = await read_until(
                sam, lambda f: f["kind"] == "viewer" and f["data"]["state"] == "typing"
            )
            assert typing["data"]["name"].startswith("Carla")
            await read_until(olga, lambda f: False, timeout=0.5)
            assert not [f for f in olga.seen if f["kind"] == "viewer"]
            assert cast.outsider.pk not in {
                f["data"]["user_id"] for f in carla.seen + sam.seen if f["kind"] == "viewer"
            }

    run_scenario(scenario)


def test_the_database_bus_carries_a_push_from_another_process_to_the_sockets(
    settings, transactional_db
):
    """`make run` without Redis: a row written by the pushing process, read by the ASGI
    process's relay once per interval for all its sockets, handed to its in-memory layer."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.REALTIME_BUS_POLL_S = 0.05
    layer = InMemoryChannelLayer()

    async def scenario():
        relay = bus.Relay()
        channel = await layer.new_channel()
        await layer.group_add("ch.7", channel)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bus, "get_channel_layer", lambda: layer)
            relay.opened()
            await asyncio.sleep(0.2)  # the relay starts from the newest row
            await asyncio.to_thread(push.push_to_channel, 7, "row", {"id": 1})
            message = await asyncio.wait_for(layer.receive(channel), 3)
            relay.closed()
            await asyncio.wait_for(relay.task, 2)  # no socket left: the loop ends
        assert message["kind"] == "row"
        assert message["data"] == {"id": 1}

    run_scenario(scenario)


def test_an_auto_resolve_batch_is_one_push_per_channel_with_ids_and_no_rows(live_desk, cast):
    """More than BULK_ROWS conversations in one announcement: the agent's socket gets one
    ``conversations`` frame per channel naming them all (its inbox refetches its list once),
    not one rendered row each; the outsider hears nothing."""
    now = timezone.now()
    cast.channel.auto_resolve_new_after = timedelta(days=1)
    cast.channel.save()
    due = [
        ConversationFactory(
            channel=cast.channel, status="new", last_activity_at=now - timedelta(days=2)
        ).pk
        for _ in range(BULK_ROWS + 10)
    ]

    async def scenario():
        async with (
            _connect(live_desk, cast.contributor) as agent,
            _connect(live_desk, cast.outsider) as outsider,
        ):
            for ws in (agent, outsider):
                await _ready(ws)
            summary = await asyncio.to_thread(autoresolve.autoresolve, now=now)
            assert summary.total == len(due)
            # The push leaves after the batch's commit; a loaded machine (CI beside other
            # jobs) has taken more than the default 5 s to deliver it.
            frame = await read_until(agent, _kind("conversations"), timeout=20.0)
            assert frame["data"] == {
                "change": "auto_resolved", "actor_id": None, "ids": sorted(due), "count": len(due)
            }  # fmt: skip
            await asyncio.sleep(0.5)
            await read_until(agent, lambda f: False, timeout=0.2)
            assert [f["kind"] for f in agent.seen].count("conversations") == 1
            assert "conversation" not in [f["kind"] for f in agent.seen]
            await read_until(outsider, lambda f: False, timeout=0.2)

    run_scenario(scenario)
