"""The conversation page's lists (desk.thread_items, event_items, earlier_items: Jinja2
templates under conversations/jinja2/) against reference files: the HTML expected for fixed
data, in English and German, in a time zone away from UTC, under tests/fixtures/pages/.

The reference files were written from the rows as the per-row Django templates gave them
(before the rows moved to Python and then to Jinja2), plus the rows added since (edits,
deletions, system lines, coexistence marks, failure reasons and Retry). Database ids are
replaced by stable names (M3, N0, H1) before comparing; whitespace between tags is ignored.
To rewrite them after a deliberate change: DESK_WRITE_PAGE_FIXTURES=1 pytest this file, then
read the diff.
"""

import os
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template import engines
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
from tests.markup import same_markup

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"


def _stable(html: str, names: dict[str, str]) -> str:
    """The markup with every database id in ``names`` (exact substrings) given its name."""
    html = str(html)
    for raw, name in names.items():
        html = html.replace(raw, name)
    return html


def _matches_reference(html: str, name: str, names: dict[str, str]) -> str:
    got = same_markup(_stable(html, names))
    path = FIXTURES / name
    if os.environ.get("DESK_WRITE_PAGE_FIXTURES"):
        path.write_text(got.replace("><li", ">\n<li") + "\n", encoding="utf-8")
    expected = same_markup(path.read_text(encoding="utf-8"))
    assert got == expected, f"{name} differs from the reference file"
    return got


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
    deleted_at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    template = TemplateFactory(channel=cast.channel, name="order_<update>")
    out = Message.Direction.OUTBOUND
    versions = [
        {"at": "2026-03-01T10:00:00+00:00", "body": "first <try>\nline two"},
        {"at": "not a date", "body": "second"},
        {"at": "2026-03-01T10:05:00+00:00", "body": "now"},
    ]
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
        {"direction": out, "type": Message.Type.TEMPLATE, "template": template, "author": author},
        {"direction": out, "type": Message.Type.TEMPLATE, "author": None},
        {"direction": out, "author": nameless, "delivery": Message.Delivery.READ},
        {"direction": out, "author": author, "payload": {"media_id": "m4"}},
        {
            "direction": out,
            "author": author,
            "delivery": Message.Delivery.FAILED,
            "failure_reason": "Number <not> on WhatsApp",
        },
        {"direction": out, "author": None, "delivery": Message.Delivery.FAILED},
        {"direction": out, "author": author, "delivery": "no-such-state"},
        # Since the templates: failures by code (one that may be retried), edits, deletions,
        # lines for messages without text, system messages, coexistence, bidi controls.
        {
            "direction": out,
            "author": author,
            "delivery": Message.Delivery.FAILED,
            "failure_code": 131000,
            "payload": {"failure": {"transient": True}},
        },
        {"direction": out, "delivery": Message.Delivery.FAILED, "failure_code": 131047},
        {"body": "now", "edited_at": start, "payload": {"versions": versions}},
        {"body": "edited once", "edited_at": start},
        {"body": "gone <text>", "revoked_at": deleted_at, "edited_at": start,
         "payload": {"versions": versions}},
        {"direction": out, "body": "erased", "revoked_at": deleted_at, "erased_at": deleted_at},
        {"type": Message.Type.IMAGE, "body": "", "revoked_at": deleted_at,
         "payload": {"file": "a/f.png", "mime_type": "image/png"}},
        {"type": Message.Type.UNREADABLE, "body": ""},
        {"type": Message.Type.UNSUPPORTED, "body": ""},
        {"type": Message.Type.REACTION, "body": "", "payload": {"removed": True}},
        {"type": Message.Type.ORDER, "body": "", "payload": {"order": {"product_items": [1, 2]}}},
        {"type": Message.Type.ORDER, "body": "", "payload": {"order": {"product_items": [1]}}},
        {"type": Message.Type.SYSTEM, "body": "User <A> changed", "payload": {"new_wa_id": "4915"}},
        {"type": Message.Type.SYSTEM, "body": "Identity", "payload": {"identity": {"x": 1}}},
        {"direction": out, "via": Message.Via.BUSINESS_APP, "body": "from the phone"},
        {"via": Message.Via.HISTORY, "body": "old <one>"},
        {"body": "abc\u202edcba\u2066x"},
    ]  # fmt: skip
    messages = []
    for i, fields in enumerate(rows):
        fields.setdefault("body", f"row {i}")
        at = start + timedelta(minutes=30 * i)
        messages.append(MessageFactory(conversation=conv, created_at=at, **fields))
    notes = [
        NoteFactory(
            conversation=conv, author=author, body="a <b>note</b>\nof two lines", created_at=start
        ),
        NoteFactory(
            conversation=conv,
            author=None,
            body="orphan",
            created_at=start + timedelta(hours=12, minutes=30),
        ),
    ]
    names = {f"/conversations/{conv.pk}/": "/conversations/C/"}
    for i, m in enumerate(messages):
        for pattern in ('id="message-{}"', "/{}/attachment/", "/{}/retry/", "/{}/react/"):
            names[pattern.format(m.pk)] = pattern.format(f"M{i}")
        if m.provider_message_id:  # a factory sequence: its number depends on the tests run
            names[m.provider_message_id] = f"wamid.M{i}"
    for i, n in enumerate(notes):
        names[f'id="note-{n.pk}"'] = f'id="note-N{i}"'
    return conv, names


@pytest.mark.parametrize("reader", ["viewer", "replier"])
def test_thread_rows_are_the_reference_markup(every_kind_of_row, language, reader):
    """A reader who cannot reply sees no Retry and no deleted text; one who can (and may see
    deleted messages) sees both."""
    conv, names = every_kind_of_row
    thread = queries.thread_page(conv, size=50)
    assert len(thread.items) == 37
    base = f"/conversations/{conv.pk}/messages/"
    if reader == "replier":
        new = desk.thread_items(thread.items, base, media_views.INLINE_TYPES, True, True, "tok<en>")
    else:
        new = desk.thread_items(thread.items, base, media_views.INLINE_TYPES)
    got = _matches_reference(new, f"thread_rows.{reader}.{language}.html", names)
    # What the reference says, spelled out.
    assert "<script>" not in new and "&lt;script&gt;" in new
    assert ("Bild vom Kunden" if language == "de" else "Picture from the customer") in new
    assert 'href="/conversations/' in new and "<br>second line" in new
    assert "<bdi>abc\u202edcba\u2066x</bdi>" in new
    retry = 'value="tok&lt;en&gt;"' in new
    assert retry == (reader == "replier")
    assert ("gone &lt;text&gt;" in new) == (reader == "replier")
    assert got.count('class="failure"') == 4


def test_thread_rows_of_a_later_page_need_no_more_queries(
    every_kind_of_row, django_assert_num_queries
):
    thread = queries.thread_page(every_kind_of_row[0], size=8)
    # The columns the rows show come with the page (no deferred field is read per row).
    with django_assert_num_queries(0):
        desk.thread_items(thread.items, "/x/", media_views.INLINE_TYPES)


def test_event_rows_are_the_reference_markup(cast, language):
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
        (Event.Kind.STATUS_CHANGED, actor, {"from": "new", "to": "pending"}),  # a repeated line
        (Event.Kind.AUTO_RESOLVED, None, {"from": "pending"}),
        (Event.Kind.ASSIGNED, actor, {"to": {"id": 5, "name": "Zoë <z>"}, "auto": True}),
        (Event.Kind.ASSIGNED, actor, {"to": {"id": 5}}),
        (Event.Kind.UNASSIGNED, actor, {"from": None}),
        (Event.Kind.TAG_ADDED, actor, {"name": "<vip>"}),
        (Event.Kind.TOPIC_REMOVED, actor, {}),
        (Event.Kind.REPLY_FAILED, None, {"reason": "Meta said <no>"}),
        (Event.Kind.REPLY_FAILED, None, {"code": 131047}),
        (Event.Kind.NUMBER_CHANGED, None, {"from": "4911", "to": "4922"}),
        (Event.Kind.IDENTITY_CHANGED, None, {}),
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
    new = desk.event_items(events)
    _matches_reference(new, f"history_rows.{language}.html", {})
    assert "Zoë &lt;z&gt;" in new and "<z>" not in new


def test_earlier_conversation_rows_are_the_reference_markup(cast, language):
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
    earlier = []
    for i, (preview, status, channel) in enumerate(rows):
        earlier.append(
            ConversationFactory(
                channel=channel,
                contact=contact,
                status=status,
                opened_at=datetime(2025, 12, 31, 14, 0, tzinfo=UTC) - timedelta(days=40 * i),
                last_message_preview=preview,
            )
        )
    history = queries.contact_history(current, cast.admin)
    assert len(history) == 5
    names = {}
    for i, c in enumerate(earlier):
        names[f'href="/conversations/{c.pk}/">#{c.pk}<'] = f'href="/conversations/H{i}/">#H{i}<'
    new = desk.earlier_items(history)
    _matches_reference(new, f"earlier_rows.{language}.html", names)
    assert "short &lt;one&gt;" in new and "…" in new


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


def test_the_jinja2_backend_escapes_translates_and_reverses():
    """config/jinja2.py: autoescape on, Django's translations (escaped like any other value),
    ``linebreaksbr`` and ``url``."""
    template = engines["jinja2"].env.from_string(
        '{{ _("Retry") }} {{ x }} {{ text|linebreaksbr }} {{ url("conversations:detail", 5) }}'
    )
    with translation.override("de"):
        html = template.render(x="<b>", text="a<\r\nb")
    assert html == "Erneut senden &lt;b&gt; a&lt;<br>b /conversations/5/"
