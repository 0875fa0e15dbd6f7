"""The conversation page's lists built in Python (desk.thread_items, event_items, earlier_items)
give the markup the per-row templates gave, for every kind of row, in two languages and a time
zone away from UTC.

The templates they replaced are kept below, verbatim, as the reference: each test renders the
same rows both ways and compares the HTML (whitespace between tags aside).
"""

import re
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import dateformat, formats, timezone, translation

from conversations import media_views, queries
from conversations.models import Event, Message
from conversations.templatetags import desk
from tests.factories import (
    ContactFactory,
    ConversationFactory,
    EventFactory,
    MessageFactory,
    NoteFactory,
    TemplateFactory,
    UserFactory,
)

# templates/conversations/_thread.html before the rows moved to desk.thread_items (a failed
# reply's reason since translated from its code: issue 13; customer text isolated in <bdi>:
# issue 12).
OLD_THREAD_ROWS = """{% load i18n desk %}{% translate "Internal note" as note_label %}\
{% translate "Template" as template_label %}\
{% for item in thread.items %}{% if item.kind == "message" %}{% with m=item.obj %}
<li class="msg dir-{{ m.direction }}" id="message-{{ m.pk }}">
  <div class="bubble">
    {% if m.type == "template" %}<span class="msg-kind">{{ template_label }}{% if m.template %} · {{ m.template.name }}{% endif %}</span>{% elif m.type != "text" %}<span class="msg-kind">{{ m.get_type_display }}</span>{% endif %}
    {% if m.payload %}{% if m.payload.file %}
      {% url 'conversations:attachment' conversation.pk m.pk as attachment_url %}
      {% if m.payload.mime_type in inline_types %}<a class="attachment" href="{{ attachment_url }}"><img src="{{ attachment_url }}" alt="{% translate 'Picture from the customer' %}" loading="lazy"></a>
      {% else %}<a class="attachment" href="{{ attachment_url }}" download>{{ m.payload.filename|default:_("Download attachment")|bdi }}</a>{% endif %}
    {% elif m.payload.media_id and m.direction == "in" %}
      <span class="muted">{% if m.payload.download_error %}{% translate "The attachment could not be downloaded:" %} {{ m.payload.download_error }}{% else %}{% translate "Attachment is being downloaded…" %}{% endif %}</span>
    {% endif %}{% endif %}
    <div class="msg-body">{{ m.body|linebreaksbr|bdi }}</div>
  </div>
  <div class="msg-meta">{{ m.created_at|time_tag }}{% if m.direction == "out" %}{% if m.author %} · {{ m.author|user_label }}{% endif %} · <span class="delivery delivery-{{ m.delivery }}">{{ m.get_delivery_display }}</span>{% if m.delivery == "failed" %} <span class="failure">{{ m|failure_text }}</span>{% endif %}{% endif %}</div>
</li>{% endwith %}{% else %}{% with n=item.obj %}
<li class="note" id="note-{{ n.pk }}">
  <div class="bubble">
    <span class="msg-kind">{{ note_label }}</span>
    <div class="msg-body">{{ n.body|linebreaksbr|bdi }}</div>
  </div>
  <div class="msg-meta">{{ n.created_at|time_tag }} · {{ n.author|user_label }}</div>
</li>{% endwith %}{% endif %}{% endfor %}"""  # noqa: E501

# The history panel's and the earlier conversations' loops in detail.html, likewise.
OLD_EVENT_ROWS = """{% load desk %}{% for e in events %}
<li><span>{% describe_event e %}</span> <span class="muted">· {% actor_name e %} · {{ e.created_at|time_tag }}</span></li>
{% endfor %}"""  # noqa: E501
OLD_EARLIER_ROWS = """{% load desk %}{% for h in history %}
<li><a href="{% url 'conversations:detail' h.pk %}">#{{ h.pk }}</a> {{ h.get_status_display }} · {{ h.opened_at|date:"SHORT_DATE_FORMAT" }} · {{ h.channel.display_name }}<br><span class="muted">{{ h.last_message_preview|truncatechars:80|bdi }}</span></li>
{% endfor %}"""  # noqa: E501


def _same_markup(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()


@pytest.fixture(params=["en", "de"])
def language(request):
    """Each test runs in English and German, in a time zone nine hours and a half from UTC."""
    with (
        translation.override(request.param),
        timezone.override(zoneinfo.ZoneInfo("Australia/Adelaide")),
    ):
        yield request.param


@pytest.fixture
def every_kind_of_row(cast):
    conv = ConversationFactory(channel=cast.channel)
    author = UserFactory(first_name="Ana <b>", last_name="Lima")
    nameless = UserFactory(first_name="", last_name="", username="x_nameless")
    start = datetime(2026, 3, 1, 11, 30, tzinfo=UTC)  # midnight and noon come up below
    template = TemplateFactory(channel=cast.channel, name="order_<update>")
    rows = [
        {"body": "Hello <script>alert(1)</script>\nsecond line\r\nthird\rfourth"},
        {"type": Message.Type.IMAGE, "payload": {"file": "a/b.png", "mime_type": "image/png"}},
        {"type": Message.Type.DOCUMENT, "payload": {"file": "a/c", "filename": 'inv"<o>ice.pdf'}},
        {"type": Message.Type.DOCUMENT, "payload": {"file": "a/d", "mime_type": "text/html"}},
        {"type": Message.Type.AUDIO, "payload": {"file": "a/e", "mime_type": ["not", "hashable"]}},
        {"type": Message.Type.VIDEO, "payload": {"media_id": "m1"}},
        {"type": Message.Type.VIDEO, "payload": {"media_id": "m2", "download_error": "<too big>"}},
        {"type": Message.Type.STICKER, "payload": {"media_id": "m3", "download_error": 413}},
        {"type": Message.Type.LOCATION, "payload": {"latitude": 1.5}},
        {"type": Message.Type.UNSUPPORTED, "payload": ["a", "list"]},
        {"type": "no-such-type", "body": ""},
        {"direction": "out", "type": Message.Type.TEMPLATE, "template": template, "author": author},
        {"direction": "out", "type": Message.Type.TEMPLATE, "author": None},
        {"direction": "out", "author": nameless, "delivery": Message.Delivery.READ},
        {"direction": "out", "author": author, "payload": {"media_id": "m4"}},
        {
            "direction": "out",
            "author": author,
            "delivery": Message.Delivery.FAILED,
            "failure_reason": "Number <not> on WhatsApp",
        },
        {"direction": "out", "author": None, "delivery": Message.Delivery.FAILED},
        {"direction": "out", "author": author, "delivery": "no-such-state"},
    ]
    for i, fields in enumerate(rows):
        MessageFactory(conversation=conv, created_at=start + timedelta(minutes=30 * i), **fields)
    NoteFactory(
        conversation=conv, author=author, body="a <b>note</b>\nof two lines", created_at=start
    )
    NoteFactory(
        conversation=conv,
        author=None,
        body="orphan",
        created_at=start + timedelta(hours=12, minutes=30),
    )
    return conv


def test_thread_rows_are_the_markup_the_row_template_gave(every_kind_of_row, language):
    conv = every_kind_of_row
    thread = queries.thread_page(conv, size=50)
    assert len(thread.items) == 20
    base = f"/conversations/{conv.pk}/messages/"
    # The old template read model instances: the same rows, in the page's order.
    models = {
        **{("message", m.pk): m for m in conv.messages.select_related("author", "template")},
        **{("note", n.pk): n for n in conv.notes.select_related("author")},
    }
    as_models = [queries.TimelineItem(i.kind, i.at, models[i.kind, i.obj.pk]) for i in thread.items]
    old = Template(OLD_THREAD_ROWS).render(
        Context(
            {
                "thread": {"items": as_models},
                "conversation": conv,
                "inline_types": media_views.INLINE_TYPES,
            }
        )
    )
    new = desk.thread_items(thread.items, base, media_views.INLINE_TYPES)
    assert _same_markup(new) == _same_markup(old)
    assert "<script>" not in new and "&lt;script&gt;" in new
    assert ("Bild vom Kunden" if language == "de" else "Picture from the customer") in new
    assert 'href="/conversations/' in new and "<br>second line" in new


def test_thread_rows_of_a_later_page_need_no_more_queries(
    every_kind_of_row, django_assert_num_queries
):
    thread = queries.thread_page(every_kind_of_row, size=8)
    # The columns the rows show come with the page (no deferred field is read per row).
    with django_assert_num_queries(0):
        desk.thread_items(thread.items, "/x/", media_views.INLINE_TYPES)


def test_event_rows_are_the_markup_the_loop_gave(cast, language):
    conv = ConversationFactory(channel=cast.channel)
    actor = UserFactory(first_name="Eve", last_name="<Ops>")
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    samples = [
        (Event.Kind.OPENED, None, {}),
        (Event.Kind.STATUS_CHANGED, actor, {"from": "new", "to": "pending"}),
        (
            Event.Kind.STATUS_CHANGED,
            None,
            {"from": "pending", "to": "new", "reason": "customer_replied"},
        ),
        (Event.Kind.STATUS_CHANGED, actor, {"from": "resolved", "to": "new", "reopened": True}),
        (Event.Kind.STATUS_CHANGED, actor, {"from": "archived", "to": None}),
        (Event.Kind.AUTO_RESOLVED, None, {"from": "pending"}),
        (Event.Kind.ASSIGNED, actor, {"to": {"id": 5, "name": "Zoë <z>"}, "auto": True}),
        (Event.Kind.ASSIGNED, actor, {"to": {"id": 5}}),
        (Event.Kind.UNASSIGNED, actor, {"from": None}),
        (Event.Kind.TAG_ADDED, actor, {"name": "<vip>"}),
        (Event.Kind.TOPIC_REMOVED, actor, {}),
        (Event.Kind.REPLY_FAILED, None, {"reason": "Meta said <no>"}),
        ("unknown_kind", actor, {}),
    ]
    for i, (kind, who, data) in enumerate(samples):
        EventFactory(
            conversation=conv,
            kind=kind,
            actor=who,
            data=data,
            created_at=start + timedelta(hours=5 * i),
        )
    events, _more = queries.events(conv)
    assert len(events) == len(samples)
    old = Template(OLD_EVENT_ROWS).render(Context({"events": events}))
    assert _same_markup(desk.event_items(events)) == _same_markup(old)


def test_earlier_conversation_rows_are_the_markup_the_loop_gave(cast, language):
    contact = ContactFactory()
    current = ConversationFactory(channel=cast.channel, contact=contact)
    # One open conversation per contact and channel: the pending one is on the other channel.
    rows = [
        ("", "resolved", cast.channel),
        ("short <one>", "odd-status", cast.channel),
        ("x" * 79, "resolved", cast.channel),
        ("ü" * 80, "pending", cast.other_channel),
        ("y" * 81 + " tail", "resolved", cast.channel),
    ]
    for i, (preview, status, channel) in enumerate(rows):
        ConversationFactory(
            channel=channel,
            contact=contact,
            status=status,
            opened_at=datetime(2025, 12, 31, 14, 0, tzinfo=UTC) - timedelta(days=40 * i),
            last_message_preview=preview,
        )
    history = queries.contact_history(current, cast.admin)
    assert len(history) == 5
    old = Template(OLD_EARLIER_ROWS).render(Context({"history": history}))
    assert _same_markup(desk.earlier_items(history)) == _same_markup(old)


@pytest.mark.parametrize(
    "fmt",
    [
        "SHORT_DATETIME_FORMAT",
        "DATETIME_FORMAT",
        "SHORT_DATE_FORMAT",
        "DATE_FORMAT",
        r"jS \o\f F Y, P \\ e O T Z",
        "D, d M Y H:i:s.u aA bcE fgGhHiIlLmMnNoOrsStTUwWyYzZ",  # every specifier there is
    ],
)
def test_the_pre_split_formats_give_what_dateformat_gives(fmt, language):
    for value in (
        datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 4, 5, 1, 30, 7, 123456, tzinfo=UTC),  # Adelaide's clocks go back
        datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
    ):
        local = timezone.localtime(value)
        format_string = str(formats.get_format(fmt)) if fmt.isupper() else fmt
        assert desk._date_text(local, format_string) == dateformat.format(local, format_string)
