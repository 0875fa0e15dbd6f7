"""Writes of routing settings (the admin's forms call these; the rules live here once).

The mode of a channel is two facts kept where they belong: assign on reply is the channel's own
``auto_assign`` (conversations.services reads it on every reply), push is
``ChannelRouting.push``. Setting the mode writes both, in one transaction.
"""

from __future__ import annotations

from django.db import transaction

from channels_app import services as channel_services
from channels_app.models import Channel
from routing.models import ChannelRouting, RoutingMode


@transaction.atomic
def set_channel_routing(channel: Channel, *, mode: str, actor, **settings) -> ChannelRouting:
    """Set the channel's routing mode and settings (capacity, fallback team and wait, Pending
    boomerang). Needs Cap.CONFIGURE (channels_app.services checks it); ValueError for an
    unknown mode."""
    if mode not in RoutingMode.values:
        raise ValueError(mode)
    channel_services.update_channel_settings(
        channel, actor=actor, auto_assign=mode != RoutingMode.MANUAL
    )
    routing, _created = ChannelRouting.objects.get_or_create(channel=channel)
    routing.push = mode == RoutingMode.PUSH
    for name, value in settings.items():
        setattr(routing, name, value)
    routing.full_clean()
    routing.save()
    return routing
