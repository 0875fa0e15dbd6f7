"""Live pushes to the agents' open pages: the API the other apps use.

``push_to_channel(channel_id, kind, data)``   everyone who may see the channel
``push_to_supervisors(channel_id, kind, data)`` the channel's Supervisors (and admins)
``push_to_user(user_id, kind, data)``          one user, on every page they have open

``kind`` is a short name the page scripts switch on; ``data`` is JSON (ids, strings, numbers).
Who receives a push is decided by the groups each socket joined through channels_app.access
(realtime.audience), so a push carries only what its audience may see: put nothing in ``data``
that a Viewer of the channel may not read. The browser dispatches every push as a ``desk:push``
``CustomEvent`` on ``document`` with ``detail = {kind, data}``.

Call them after the change is committed (from a ``transaction.on_commit`` or a receiver of
conversations.signals); a push is fire-and-forget: pages whose socket was down catch up when it
reconnects (they fetch their lists again).

``by_language`` (optional, ``{"en": {...}, "de": {...}}``): per language, values merged into
``data`` for the sockets of that language (e.g. a row rendered once per language).
"""

from __future__ import annotations

import uuid

from realtime import audience, bus

PUSH_EVENT = "desk.push"


def _message(group: str, kind: str, data: dict, by_language: dict | None) -> dict:
    # ``id``: the sockets of one process encode a push once per language (consumers.py).
    message = {"type": PUSH_EVENT, "id": uuid.uuid4().hex, "group": group, "kind": kind}
    message["data"] = data
    if by_language:
        message["by_language"] = by_language
    return message


def push_to_group(group: str, kind: str, data: dict, *, by_language: dict | None = None):
    bus.publish(group, _message(group, kind, data, by_language))


def push_to_channel(channel_id: int, kind: str, data: dict, *, by_language: dict | None = None):
    push_to_group(audience.channel_group(channel_id), kind, data, by_language=by_language)


def push_to_supervisors(channel_id: int, kind: str, data: dict, *, by_language: dict | None = None):
    push_to_group(audience.supervisors_group(channel_id), kind, data, by_language=by_language)


def push_to_user(user_id: int, kind: str, data: dict, *, by_language: dict | None = None):
    push_to_group(audience.user_group(user_id), kind, data, by_language=by_language)


def access_changed(user_ids: list[int] | None) -> None:
    """Make the sockets of these users (None: of everybody) join their groups again, now."""
    if user_ids is not None and not user_ids:
        return
    ids = None if user_ids is None else sorted(set(user_ids))
    bus.publish(audience.ACCESS_GROUP, {"type": "desk.access", "user_ids": ids})
