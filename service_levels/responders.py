"""Auto-responders: the away message while a channel is closed, and the greeting of a new
conversation. Both are sent by the system through the conversations' outbound path, so they
appear in the thread as sent by the system (no author) and never count as the desk's response.

- Away: when a customer writes while the channel is closed, at most once per closed period per
  conversation. The closed period is named by the moment the channel opens again, and an
  ``AutoReply`` row unique on (conversation, kind, period) makes "once" hold under concurrent
  deliveries. Free text only while the 24-hour window allows it (less the safety margin);
  otherwise the approved template chosen in the settings, or nothing (the row still records the
  decision, so a later message of the same period does not try again).
- Greeting: once for a new conversation (period = its opening).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from conversations import services
from conversations.models import Conversation, Message
from service_levels import hours
from service_levels.models import AutoReply, ServiceSettings

# The period of an away message when the channel never opens again (no intervals at all).
NEVER = datetime(9999, 1, 1, tzinfo=UTC)


def respond(
    at_by_conversation: dict[int, datetime], *, opened=(), now: datetime, channel_ids=None
) -> list[AutoReply]:
    """Customers wrote at these instants (the latest per conversation); ``opened`` are new
    conversations. Sends what the channels' settings ask for; returns the decisions made.
    With ``channel_ids`` (the messages' channels) a batch on channels without auto-replies
    costs one query."""
    if channel_ids is not None:
        configured = _configured(channel_ids)
        if not configured:
            return []
    conversations = list(
        Conversation.objects.filter(
            pk__in=list(at_by_conversation), status__in=Conversation.OPEN
        ).select_related("channel", "contact")
    )
    if channel_ids is None:
        configured = _configured({c.channel_id for c in conversations})
    if not configured:
        return []
    schedules = hours.schedules(configured)
    opened = set(opened)
    done = []
    for conv in conversations:
        conf = configured.get(conv.channel_id)
        if conf is None:
            continue
        at = at_by_conversation[conv.pk]
        if conv.pk in opened and conf.greeting_enabled and conf.greeting_text.strip():
            reply = _once(
                conv, AutoReply.Kind.GREETING, conv.opened_at, conf.greeting_text, None, now
            )
            if reply:
                done.append(reply)
        schedule = schedules[conv.channel_id]
        if conf.away_enabled and not schedule.is_open(at):
            period = schedule.next_opening(at) or NEVER
            reply = _once(
                conv, AutoReply.Kind.AWAY, period, conf.away_text, conf.away_template, now
            )
            if reply:
                done.append(reply)
    return done


def _configured(channel_ids) -> dict[int, ServiceSettings]:
    return {
        s.channel_id: s
        for s in ServiceSettings.objects.filter(
            Q(away_enabled=True) | Q(greeting_enabled=True), channel_id__in=set(channel_ids)
        )
    }


def _once(conv, kind, period, text, template, now) -> AutoReply | None:
    """Record the decision for (conversation, kind, period) and send, in one transaction;
    None when it was made before."""
    try:
        with transaction.atomic():
            reply = AutoReply.objects.create(
                conversation=conv, kind=kind, period=period, created_at=now
            )
            message = send_text_or_template(conv, text=text, template=template, now=now)
            if message is not None:
                reply.message_id = message.pk
                reply.save(update_fields=["message_id"])
            return reply
    except IntegrityError:
        return None


def send_text_or_template(conv, *, text: str, template, now: datetime) -> Message | None:
    """Free text while the window allows it, else the template when it is sendable and needs no
    parameters, else nothing."""
    margin = django_settings.WHATSAPP_WINDOW_SAFETY_MARGIN
    if text.strip() and conv.is_window_open(now, margin=margin):
        return services.send_system_message(conv, body=text.strip(), now=now)
    if (
        template is not None
        and template.channel_id == conv.channel_id
        and template.is_sendable
        and services.template_placeholder_count(template) == 0
    ):
        return services.send_system_message(conv, template=template, now=now)
    return None
