"""The inbox row of a conversation as a push carries it: rendered once per language with the
inbox's own row template (templates/conversations/_inbox_row.html), plus the values the page
needs to place it (queue, channel, assignee, labels, activity)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext

from channels_app.models import Channel
from conversations.models import Conversation, Message
from realtime import answers
from service_levels.templatetags import service_levels as sla_states

ROW_TEMPLATE = "conversations/_inbox_row.html"


def load(conversation_ids) -> list[Conversation]:
    """The conversations in the inbox's row shape (a fixed number of queries for any number of
    them)."""
    rows = list(
        Conversation.objects.filter(pk__in=list(conversation_ids))
        .select_related("contact", "assignee")
        .prefetch_related(Prefetch("tags", to_attr="tag_list"))
        .order_by("pk")
    )
    # The names only: a whole channel row would decrypt its access token for nothing.
    names = dict(
        Channel.objects.filter(pk__in={row.channel_id for row in rows}).values_list(
            "pk", "display_name"
        )
    )
    topics = Conversation.topics.through.objects.filter(
        conversation_id__in=[c.pk for c in rows]
    ).values_list("conversation_id", "topic_id")
    by_conversation: dict[int, list[int]] = {}
    for conversation_id, topic_id in topics:
        by_conversation.setdefault(conversation_id, []).append(topic_id)
    for row in rows:
        row.channel_name = names.get(row.channel_id, "")
        row.topic_ids = sorted(by_conversation.get(row.pk, []))
    answers.states(rows)  # who wrote last and since when; unread is the page's to decide
    sla_states.preload(rows)  # the rows' SLA badges: one query, not one per row
    return rows


def data(conversation: Conversation) -> dict:
    """What a page needs to place the row; nothing a Viewer of the channel may not read."""
    last_in = conversation.last_customer_message_at
    return {
        "id": conversation.pk,
        "channel_id": conversation.channel_id,
        "status": conversation.status,
        "assignee_id": conversation.assignee_id,
        "tag_ids": sorted(t.pk for t in conversation.tag_list),
        "topic_ids": conversation.topic_ids,
        "last_activity_at": conversation.last_activity_at.isoformat(),
        "preview": conversation.last_message_preview,
        "last_customer_message_at": last_in.isoformat() if last_in else None,
        "last_from": conversation.answer.last_from if conversation.answer else None,
        "waiting_since": conversation.answer.waiting_iso if conversation.answer else "",
    }


def html_by_language(conversation: Conversation) -> dict[str, dict]:
    """``{"en": {"html": …}, "de": {"html": …}}``: the row in each of the desk's languages."""
    out = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            html = render_to_string(
                ROW_TEMPLATE, {"c": conversation, "unassigned_label": gettext("Unassigned")}
            )
        out[code] = {"html": html}
    return out


def delivery_labels() -> dict[str, dict]:
    """The delivery states' names in each language, for the ticks a page updates in place."""
    out = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            out[code] = {"labels": {value: str(label) for value, label in Message.Delivery.choices}}
    return out
