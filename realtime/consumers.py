"""The socket of an agent's page: joins the groups the access module allows, forwards pushes.

One socket per open page (``/ws/desk/?lang=de``). It joins its user's groups (realtime.audience)
on connect and again whenever an access change names its user, and forwards every push of a
group it still belongs to as ``{"kind", "data"}``. From the page it takes ``ping`` (presence
heartbeat), ``view`` (which conversation the page shows: viewers) and ``typing``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model

from conversations.models import Conversation
from realtime import audience, presence_hook
from realtime.bus import relay

log = logging.getLogger(__name__)

LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}
# A push reaches every socket of the process with its own copy: encoded once per language.
ENCODED_KEEP = 512
_encoded: OrderedDict[tuple[str, str], str] = OrderedDict()
# Close codes: 4401 not logged in (the page falls back to polling and its links go to login).
NOT_LOGGED_IN = 4401
# A socket sends its pushes from an outbox: while a send waits (a slow client: the socket's
# buffer is full), several ``message`` pushes of one conversation that arrive meanwhile become one
# frame (their message ids in order, the newest row), so a slow page gets one frame per
# conversation instead of a growing backlog of rows it would replace anyway (see ``Outbox``). No
# pause is added before the first send (COALESCE_S 0: latency unchanged).
COALESCE_S = 0.0


class Outbox:
    """One socket's pushes waiting to be sent, in arrival order.

    A ``message`` push of a conversation merges into the pending one of the same conversation,
    direction and author when nothing else about that conversation came between them: the
    frame moves to the end (its row is the newest activity), its ``message_ids`` grow in order,
    ``created``/``reopened`` stay set once set, ``previous_status`` is the first one's. Every
    other push is a frame of its own. Each message id reaches the page exactly once, and each
    conversation's pushes keep their order.
    """

    def __init__(self) -> None:
        self.frames: OrderedDict[object, dict] = OrderedDict()
        self.last: dict[tuple, object] = {}  # (group, conversation) -> key of its latest frame

    def __bool__(self) -> bool:
        return bool(self.frames)

    def add(self, event: dict) -> None:
        data = event.get("data") or {}
        conversation = data.get("conversation_id") or data.get("id")
        where = (event.get("group"), conversation)
        key: object = event.get("id") or object()
        if event.get("kind") == "message" and conversation is not None:
            key = ("message", *where, data.get("direction"), data.get("author_id"))
            if self.last.get(where) == key and key in self.frames:
                self.frames[key] = _merged(self.frames[key], event)
                self.frames.move_to_end(key)
                return
            if key in self.frames:  # another push of the conversation came between: its own frame
                key = event.get("id") or object()
        self.frames[key] = event
        self.last[where] = key

    def take(self) -> list[dict]:
        frames = list(self.frames.values())
        self.frames.clear()
        self.last.clear()
        return frames


def _merged(first: dict, later: dict) -> dict:
    old, new = first.get("data") or {}, later.get("data") or {}
    data = {
        **new,
        "message_ids": [*old.get("message_ids", []), *new.get("message_ids", [])],
        "created": bool(old.get("created") or new.get("created")),
        "reopened": bool(old.get("reopened") or new.get("reopened")),
    }
    if "previous_status" in old:
        data["previous_status"] = old["previous_status"]
    return {**later, "id": f"{first.get('id')}+{later.get('id')}", "data": data}


def _fresh_user(pk: int):
    """The user as stored now (active flag, superuser, permission caches empty)."""
    return get_user_model().objects.filter(pk=pk).first()


def _display_name(user) -> str:
    return user.get_full_name() or user.get_username()


class DeskConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accepted, then closed with a reason the page reads (it stops reconnecting).
            await self.accept()
            await self.close(code=NOT_LOGGED_IN)
            return
        self.user_id = user.pk
        self.name = _display_name(user)
        language = self._query().get("lang", "")
        self.language = language if language in LANGUAGE_CODES else settings.LANGUAGE_CODE
        self.joined: set[str] = set()
        self.channel_ids: set[int] = set()
        self.viewing: int | None = None
        self.outbox = Outbox()
        self.flushing: asyncio.Task | None = None
        await self.accept()
        relay.opened()
        self.counted = True
        await self.resubscribe()
        await database_sync_to_async(presence_hook.page_opened)(user)

    def _query(self) -> dict[str, str]:
        raw = self.scope.get("query_string", b"").decode("latin-1")
        pairs = (part.partition("=") for part in raw.split("&") if part)
        return {key: value for key, _sep, value in pairs}

    async def resubscribe(self) -> None:
        """Join the groups the access module allows now; leave the others at once."""
        wanted, channel_ids = await database_sync_to_async(self._allowed)()
        for group in sorted(self.joined - wanted):
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in sorted(wanted - self.joined):
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined = wanted
        self.channel_ids = channel_ids
        if self.viewing is not None and self.viewing_channel not in channel_ids:
            await self._leave_conversation()
        if not wanted:
            await self.close(code=NOT_LOGGED_IN)

    def _allowed(self) -> tuple[set[str], set[int]]:
        user = _fresh_user(self.user_id)
        if user is None or not user.is_active:
            return set(), set()
        roles = audience.channel_roles(user)
        return audience.groups_for(user, roles), set(roles)

    async def disconnect(self, code):
        if not getattr(self, "counted", False):
            return
        self.counted = False
        relay.closed()
        if self.flushing is not None:
            self.flushing.cancel()
        await self._leave_conversation()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = set()
        user = await database_sync_to_async(_fresh_user)(self.user_id)
        if user is not None:
            await database_sync_to_async(presence_hook.page_closed)(user)

    # --- from the layer ----------------------------------------------------------------------

    async def desk_push(self, event):
        # A push already on its way when the user lost the group is dropped here (and when the
        # frame is sent: the group may be left while it waits).
        if event.get("group") not in self.joined:
            return
        self.outbox.add(event)
        if self.flushing is None:
            self.flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(COALESCE_S)
            while self.outbox:  # what arrives while a batch is sent follows in the next one
                for event in self.outbox.take():
                    if event.get("group") in self.joined:
                        await self.send(text_data=self._encoded(event))
        except Exception:  # the socket went away mid-send: its disconnect cleans up
            log.debug("live push: a socket closed while sending", exc_info=True)
        finally:
            self.flushing = None

    def _encoded(self, event: dict) -> str:
        """The frame's text; the sockets of the process share it per push (and language)."""
        key = (event.get("id"), self.language)
        text = _encoded.get(key) if key[0] else None
        if text is None:
            data = event.get("data") or {}
            extra = (event.get("by_language") or {}).get(self.language)
            if extra:
                data = {**data, **extra}
            text = json.dumps({"kind": event["kind"], "data": data})
            if key[0]:
                _encoded[key] = text
                while len(_encoded) > ENCODED_KEEP:
                    _encoded.popitem(last=False)
        return text

    async def desk_access(self, event):
        ids = event.get("user_ids")
        if ids is None or self.user_id in ids:
            await self.resubscribe()
            await self.send_json({"kind": "access", "data": {}})

    async def desk_viewer(self, event):
        """Another page joined, left, or types in the conversation this page shows."""
        if event.get("conversation_id") != self.viewing or event.get("sender") == (
            self.channel_name
        ):
            return
        if audience.conversation_group(self.viewing) not in self.joined:
            return
        await self.send_json({"kind": "viewer", "data": event["data"]})
        if event["data"].get("state") == "joined":
            # Tell the newcomer that this page is here too.
            await self.channel_layer.send(
                event["sender"],
                {
                    "type": "desk.viewer",
                    "conversation_id": self.viewing,
                    "sender": self.channel_name,
                    "data": self._viewer("viewing"),
                },
            )

    # --- from the page -----------------------------------------------------------------------

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in ("ping", "active"):
            # The user loaded at connect: a heartbeat costs the desk no query (idle agents
            # stay free); routing decides what a report writes.
            user = self.scope["user"]
            if kind == "active":
                await database_sync_to_async(presence_hook.activity)(user)
            else:
                # Not database_sync_to_async: its connection housekeeping around every call
                # would cost idle sockets a connection check each.
                await sync_to_async(presence_hook.heartbeat)(user)
            if kind == "ping":
                await self.send_json({"kind": "pong", "data": {}})
        elif kind == "view":
            await self._view(content.get("conversation_id"))
        elif kind == "typing" and self.viewing is not None:
            state = "typing" if content.get("typing") else "viewing"
            await self._announce(state)
        else:
            await self.send_json({"kind": "error", "data": {"reason": "unknown message"}})

    async def _view(self, conversation_id) -> None:
        await self._leave_conversation()
        if not isinstance(conversation_id, int):
            return
        channel_id = await database_sync_to_async(
            Conversation.objects.filter(pk=conversation_id)
            .values_list("channel_id", flat=True)
            .first
        )()
        if channel_id is None or channel_id not in self.channel_ids:
            return  # no such conversation for this user: nothing joined, nothing said
        self.viewing = conversation_id
        self.viewing_channel = channel_id
        group = audience.conversation_group(conversation_id)
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)
        await self._announce("joined")

    async def _leave_conversation(self) -> None:
        if self.viewing is None:
            return
        await self._announce("left")
        group = audience.conversation_group(self.viewing)
        await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.discard(group)
        self.viewing = None

    def _viewer(self, state: str) -> dict:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "state": state,
            "page": self.channel_name,
        }

    async def _announce(self, state: str) -> None:
        await self.channel_layer.group_send(
            audience.conversation_group(self.viewing),
            {
                "type": "desk.viewer",
                "conversation_id": self.viewing,
                "sender": self.channel_name,
                "data": self._viewer(state),
            },
        )
