"""An inbound message stored in one PostgreSQL statement: the webhook's hot path.

``services.receive_inbound`` (a channel) and ``services.receive_inbound_at_number`` (the webhook:
a phone number id) are the entry points; on PostgreSQL they call ``receive`` here, on SQLite
(development) they run the same rules through the ORM. All write the same rows, which
``tests/conversations/test_inbound_sql.py`` checks case by case.

Why one statement: through the ORM an inbound message cost ten round trips (redelivery check,
contact, savepoint, open conversation under lock, message, conversation update, release) and
most of the webhook's CPU went into building those queries. Here the rules are one chain of
data-modifying CTEs, in the order the ORM version applies them (docs/whatsapp.md):

0. ``ch``: the channel, by id or by the provider address (phone number id) of an active channel
   of the message's kind; without one nothing else runs and the statement says so.
1. ``dup``: the message is already stored (same channel and provider id, found through the
   key table ``conversations_messagekey``, then the message by id and time: one partition of
   the month-partitioned messages, docs/partitions.md): nothing else runs.
2. ``found`` / ``new_contact``: the contact by wa_id, else by BSUID, else inserted
   (``ON CONFLICT DO NOTHING``); ``contact_update`` refreshes its profile name and fills a
   missing wa_id or BSUID.
3. ``open_conv``: the contact's open conversation on the channel, locked
   ``FOR NO KEY UPDATE``; without one, ``conv_insert`` opens a New conversation (with its final
   preview and times) and the ``opened`` event.
4. ``msg_key`` / ``msg``: the provider id's key with the message's id from its sequence
   (``ON CONFLICT DO NOTHING``: the uniqueness a partitioned table cannot hold), then the
   message with that id (the key table's trigger finds its own key and adds nothing).
5. ``conv_update``: only when the message was inserted: Pending goes back to New (with its
   event), the preview follows the newest message, the window and the activity only move forward.
6. The result says whether an edit or deletion of this message arrived before it
   (``ParkedChange``, an index probe): only then does the caller apply it, so the hot path pays
   no extra round trip for the rare case.

Races end in an empty result, never in a half-applied message: a contact or conversation that
a concurrent first message is inserting, or a concurrent redelivery of the same message, makes
its INSERT do nothing, and everything after it depends on its RETURNING. The caller runs the
statement again with a fresh snapshot, which then sees the winner's rows (READ COMMITTED).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from channels_app.transports import ContactIdentity, InboundMessage
from conversations import rules
from conversations.models import Event, Message

TEMPLATE = """
WITH ch AS (
    {channel}
),
dup AS (
    SELECT m.id, m.conversation_id
    FROM conversations_messagekey k
    JOIN conversations_message m ON m.id = k.message_id AND m.created_at = k.created_at
    WHERE k.channel_id = (SELECT id FROM ch) AND k.provider_message_id = %(wamid)s
),
found AS (
    (SELECT id FROM conversations_contact WHERE kind = %(kind)s AND wa_id = %(wa_id)s)
    UNION ALL
    (SELECT id FROM conversations_contact WHERE kind = %(kind)s AND bsuid = %(bsuid)s)
    LIMIT 1
),
new_contact AS (
    INSERT INTO conversations_contact (kind, wa_id, bsuid, profile_name, phone, created_at)
    SELECT %(kind)s, %(wa_id)s, %(bsuid)s, %(profile_name)s, %(phone)s, %(now)s
    WHERE EXISTS (SELECT FROM ch) AND NOT EXISTS (SELECT FROM dup)
      AND NOT EXISTS (SELECT FROM found)
    ON CONFLICT DO NOTHING
    RETURNING id
),
contact AS (
    SELECT id FROM found WHERE EXISTS (SELECT FROM ch) UNION ALL SELECT id FROM new_contact
),
contact_update AS (
    UPDATE conversations_contact c SET
        profile_name = CASE WHEN %(profile_name)s <> '' THEN %(profile_name)s
                            ELSE c.profile_name END,
        bsuid = COALESCE(NULLIF(c.bsuid, ''), %(bsuid)s),
        wa_id = COALESCE(NULLIF(c.wa_id, ''), %(wa_id)s),
        phone = CASE WHEN COALESCE(c.wa_id, '') = '' AND %(wa_id)s::varchar IS NOT NULL
                          AND c.phone = '' THEN %(phone)s
                     ELSE c.phone END
    FROM contact f
    WHERE c.id = f.id AND NOT EXISTS (SELECT FROM dup)
      AND ((%(profile_name)s <> '' AND c.profile_name <> %(profile_name)s)
           OR (COALESCE(c.bsuid, '') = '' AND %(bsuid)s::varchar IS NOT NULL)
           OR (COALESCE(c.wa_id, '') = '' AND %(wa_id)s::varchar IS NOT NULL))
),
open_conv AS (
    SELECT cv.id, cv.status, cv.last_customer_message_at, cv.last_activity_at
    FROM conversations_conversation cv
    WHERE cv.channel_id = (SELECT id FROM ch) AND cv.contact_id = (SELECT id FROM contact)
      AND {open} AND NOT EXISTS (SELECT FROM dup)
    FOR NO KEY UPDATE
),
conv_insert AS (
    INSERT INTO conversations_conversation (
        channel_id, contact_id, status, opened_at, last_customer_message_at, last_activity_at,
        resolution, last_message_preview, waiting_since)
    SELECT (SELECT id FROM ch), contact.id, %(new)s, %(sent_at)s, %(sent_at)s, %(now)s, '',
           %(preview)s, %(now)s
    FROM contact
    WHERE NOT EXISTS (SELECT FROM dup) AND NOT EXISTS (SELECT FROM open_conv)
    ON CONFLICT DO NOTHING
    RETURNING id
),
conv AS (
    SELECT id FROM open_conv UNION ALL SELECT id FROM conv_insert
),
msg_key AS (
    INSERT INTO conversations_messagekey (channel_id, provider_message_id, message_id, created_at)
    SELECT (SELECT id FROM ch), %(wamid)s, nextval('conversations_message_id_seq'), %(now)s
    FROM conv
    ON CONFLICT DO NOTHING
    RETURNING message_id
),
msg AS (
    INSERT INTO conversations_message (
        id, conversation_id, channel_id, direction, type, body, payload, provider_message_id,
        reply_to_provider_id, delivery, failure_reason, sent_outside_window, attempts,
        created_at, sent_at)
    SELECT msg_key.message_id, conv.id, (SELECT id FROM ch), %(inbound)s, %(type)s, %(body)s,
           %(payload)s::jsonb, %(wamid)s, %(reply_to)s, %(received)s, '', false, 0, %(now)s,
           %(sent_at)s
    FROM conv, msg_key
    RETURNING id, conversation_id
),
conv_update AS (
    UPDATE conversations_conversation cv SET
        status = %(new)s,
        snoozed_until = NULL,
        last_message_preview = CASE
            WHEN o.last_customer_message_at IS NULL OR %(sent_at)s >= o.last_customer_message_at
            THEN %(preview)s ELSE cv.last_message_preview END,
        last_customer_message_at = GREATEST(o.last_customer_message_at, %(sent_at)s),
        last_activity_at = GREATEST(o.last_activity_at, %(now)s),
        waiting_since = COALESCE(cv.waiting_since, %(now)s)
    FROM open_conv o
    WHERE cv.id = o.id AND EXISTS (SELECT FROM msg)
    RETURNING cv.id, o.status AS previous_status
),
events AS (
    INSERT INTO conversations_event (conversation_id, kind, data, created_at)
    SELECT id, %(opened)s, '{}'::jsonb, %(now)s FROM conv_insert
    UNION ALL
    SELECT id, %(status_changed)s,
           jsonb_set(%(back_to_new)s::jsonb, '{from}', to_jsonb(previous_status)), %(now)s
    FROM conv_update WHERE {reopened}
)
SELECT true, id, conversation_id, (SELECT id FROM ch),
       EXISTS (SELECT FROM conversations_parkedchange p
               WHERE p.channel_id = (SELECT id FROM ch) AND p.target_provider_id = %(wamid)s),
       EXISTS (SELECT FROM conv_insert),
       EXISTS (SELECT FROM conv_update WHERE {reopened})
FROM msg
UNION ALL
SELECT false, id, conversation_id, (SELECT id FROM ch), false, false, false FROM dup
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE NOT EXISTS (SELECT FROM ch)
"""

# The channel by id (services.receive_inbound), or the active channel of the contact's kind at a
# provider address (the webhook: one round trip less than reading the channel first). Two
# statements, each prepared on its own. The statuses are literals from the rules (the open set, and
# the statuses a customer's message moves back to New), so a new status changes the statement by
# itself.
TEMPLATE = TEMPLATE.replace("{open}", rules.in_sql("cv.status", rules.OPEN)).replace(
    "{reopened}", rules.in_sql("previous_status", rules.REOPENED_BY_INBOUND)
)
BY_CHANNEL = TEMPLATE.replace(
    "{channel}", "SELECT id FROM channels_app_channel WHERE id = %(channel)s"
)
BY_NUMBER = TEMPLATE.replace(
    "{channel}",
    "SELECT id FROM channels_app_channel"
    " WHERE phone_number_id = %(number)s AND kind = %(kind)s AND is_active",
)


def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """The statement with PostgreSQL's own placeholders (``$1``, one per name, in order of first
    appearance: what psycopg sends for ``%(name)s``) and the names in that order. Executed
    through a ``RawCursor``, psycopg then never parses it: its parse cache stops at 4 KB, so the
    5 KB statement was split and rebuilt on every message (~0.1 ms of the web process's CPU)."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    converted = re.sub(r"%\((\w+)\)s", number, sql)
    assert "%" not in converted, "only %(name)s placeholders are converted"
    return converted, tuple(names)


BY_NUMBER_RAW = _positional(BY_NUMBER)
BY_CHANNEL_RAW = _positional(BY_CHANNEL)

# A Pending conversation the customer answered goes back to New (services.receive_inbound).
BACK_TO_NEW = json.dumps(rules.back_to_new_event())

CONSTANTS = {
    # The statuses come from the rules: a new conversation opens in on_inbound(None).status, an
    # open one moves to on_inbound(status).status (New for both open statuses, which keep their
    # assignee: the UPDATE below leaves it alone).
    "new": rules.on_inbound(None).status,
    "inbound": Message.Direction.INBOUND.value,
    "received": Message.Delivery.RECEIVED.value,
    "opened": Event.Kind.OPENED.value,
    "status_changed": Event.Kind.STATUS_CHANGED.value,
    "back_to_new": BACK_TO_NEW,
}
# The statement's shape encodes these rules; a change to them must change the statement too.
assert all(
    rules.back_to_new_event(s) == {**json.loads(BACK_TO_NEW), "from": s}
    for s in rules.REOPENED_BY_INBOUND
)
assert all(
    rules.on_inbound(s).status == CONSTANTS["new"] and rules.on_inbound(s).keeps_assignee
    for s in rules.OPEN
)
assert all(rules.on_inbound(s).opens_new for s in (None, rules.Status.RESOLVED.value))


@dataclass(frozen=True)
class Stored:
    created: bool
    message_id: int
    conversation_id: int
    channel_id: int
    parked: bool = False  # an edit or deletion of this message is waiting (message_changes)
    opened: bool = False  # the message opened this conversation
    reopened: bool = False  # it moved the conversation back to New (from Pending)


class UnknownChannel(Exception):
    """No active channel of the kind has this provider address (phone number id)."""


def receive(
    *,
    channel_id: int | None,
    identity: ContactIdentity,
    message: InboundMessage,
    preview: str,
    now: datetime,
) -> Stored | None:
    """Run the statement once for the channel ``channel_id``, or (None) for the active channel
    of the identity's kind at the message's ``phone_number_id`` (UnknownChannel when there is
    none); ``None`` when a concurrent writer won a race (run it again)."""
    phone_number_id = message.phone_number_id if channel_id is None else None
    params = {
        **CONSTANTS,
        "channel": channel_id,
        "number": phone_number_id,
        "kind": identity.kind,
        "wa_id": identity.wa_id,
        "bsuid": identity.bsuid,
        "profile_name": identity.profile_name,
        "phone": identity.phone,
        "wamid": message.provider_message_id,
        "sent_at": message.sent_at,
        "type": message.type,
        "body": message.body or "",
        "payload": json.dumps(message.payload or {}),
        "reply_to": message.reply_to_provider_id or "",
        "preview": preview,
        "now": now,
    }
    sql, names = BY_NUMBER_RAW if channel_id is None else BY_CHANNEL_RAW
    row = _run(sql, tuple(params[name] for name in names))
    if row is None:
        return None
    if row[0] is None:
        raise UnknownChannel(phone_number_id)
    return Stored(*row)


def _run(sql: str, params: tuple) -> tuple | None:
    """The statement's row. A reused connection is checked by the statement itself instead of
    Django's health check (``CONN_HEALTH_CHECKS``: a ``SELECT 1`` round trip before the first
    query of every request, a quarter of the webhook's wall time): when the statement finds the
    connection dead (the server restarted since the last request), it runs once more on a new
    one. That is safe because the statement is atomic and idempotent on the message's provider
    id: had the lost run committed, the second finds the message stored. Inside a transaction,
    or on a connection opened for this request, an error is raised as it comes."""
    db = connections[DEFAULT_DB_ALIAS]  # the thread's connection, looked up once
    reused = db.connection is not None and not db.health_check_done and not db.in_atomic_block
    if reused:
        db.health_check_done = True  # checked by the statement, below
    try:
        with _prepared_cursor(db) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    except (OperationalError, InterfaceError):
        if not reused or db.is_usable():
            raise  # the statement failed, not the connection
        db.close()
    with _prepared_cursor(db) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _prepared_cursor(db):
    """A Django cursor (error translation, query logging) over a server-side binding cursor.

    Django's own cursors bind parameters client-side, which psycopg never prepares, so the
    server parsed and planned this statement on every message: about 0.7 ms of its CPU, more than
    running it. Bound server-side, psycopg prepares it once per connection (after
    ``prepare_threshold`` runs, set in config/settings.py) and then only executes it. Behind a
    transaction-mode pooler the threshold stays unset and nothing is prepared. The cursor is a
    ``RawCursor``: the statement comes with ``$n`` placeholders (``_positional``).
    """
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw = psycopg.RawCursor(db.connection)
    if db.queries_logged:
        return db.make_debug_cursor(raw)
    return db.make_cursor(raw)
