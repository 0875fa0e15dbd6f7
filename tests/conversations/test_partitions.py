"""Messages and events partitioned by month on PostgreSQL (issue 20 item 1, docs/partitions.md).

The table's shape after migration 0017, the provider-id uniqueness the key table keeps for every
writer, the maintenance (partitions ahead, strays moved out of the default partition, retention)
and the pruning of the main queries, read from EXPLAIN. SQLite keeps plain tables: there only the
command's answer is checked.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_app.transports import InboundMessage
from config.db_features import is_postgres
from conversations import partitions, queries, services
from conversations.models import Event, Message
from conversations.services import inbound_sql
from reports.build import _message_groups_sql
from reports.figures import Period
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    EventFactory,
    MessageFactory,
)

pg = pytest.mark.skipif(not is_postgres(), reason="partitioning is PostgreSQL's")
pytestmark = pytest.mark.django_db

MONTH = timedelta(days=31)


def names(table):
    return [p.name for p in partitions.partitions(table)]


def at(year, month, day=15):
    return datetime(year, month, day, 12, tzinfo=UTC)


def plan_analyze(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def plan(sql: str, params=()) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def scanned(text: str, table: str) -> set[str]:
    """The partitions of ``table`` a plan reads."""
    return set(re.findall(rf"\b({table}_(?:y\d{{4}}m\d{{2}}|default))\b", text))


@pg
def test_the_tables_are_partitioned_by_month_with_the_time_in_their_keys():
    for table in partitions.TABLES:
        assert partitions.is_partitioned(table)
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT pg_get_constraintdef(oid) FROM pg_constraint
                   WHERE conrelid = %s::regclass AND contype = 'p'""",
                [table],
            )
            assert cursor.fetchone()[0] == "PRIMARY KEY (id, created_at)"
        month = partitions.month_start(timezone.now())
        assert partitions.partition_name(table, month) in names(table)
        assert f"{table}_default" in names(table)


@pg
def test_no_foreign_key_references_messages_or_events():
    """A partitioned table's primary key holds created_at: other tables point at a message or
    an event by id without a database constraint (common rules of the desk)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT conrelid::regclass::text, conname FROM pg_constraint
               WHERE contype = 'f' AND confrelid IN (
                   SELECT c.oid FROM pg_class c
                   WHERE c.relname LIKE 'conversations\\_message%%'
                      OR c.relname LIKE 'conversations\\_event%%')"""
        )
        assert cursor.fetchall() == []


@pg
def test_a_provider_id_is_stored_once_per_channel_by_every_writer():
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, provider_message_id="wamid.A")
    unique = "message_provider_id_unique_per_channel"
    with pytest.raises(IntegrityError, match=unique), transaction.atomic():
        MessageFactory(conversation=conversation, provider_message_id="wamid.A")
    # Another channel may hold the same id.
    MessageFactory(provider_message_id="wamid.A")
    # An outbound reply gets its wamid when the provider accepts it (an UPDATE).
    reply = MessageFactory(conversation=conversation, direction="out", provider_message_id=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.filter(pk=reply.pk).update(provider_message_id="wamid.A")
    Message.objects.filter(pk=reply.pk).update(provider_message_id="wamid.B")
    # A deleted message frees its id; a changed one moves its key.
    Message.objects.filter(provider_message_id="wamid.A", channel=conversation.channel).delete()
    MessageFactory(conversation=conversation, provider_message_id="wamid.A")
    Message.objects.filter(pk=reply.pk).update(provider_message_id="wamid.C")
    MessageFactory(conversation=conversation, provider_message_id="wamid.B")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT provider_message_id, message_id FROM conversations_messagekey"
            " WHERE channel_id = %s ORDER BY 1",
            [conversation.channel_id],
        )
        keys = cursor.fetchall()
    assert [k for k, _ in keys] == ["wamid.A", "wamid.B", "wamid.C"]
    assert dict(keys)["wamid.C"] == reply.pk


@pg
def test_the_inbound_statement_stores_a_redelivery_once_through_the_key_table():
    channel = ChannelFactory()
    now = timezone.now()
    kwargs = {
        "channel": channel,
        "message": InboundMessage(
            wa_id="4915", provider_message_id="wamid.once", sent_at=now, type="text", body="hello"
        ),
        "now": now,
    }
    first, created = services.receive_inbound(**kwargs)
    again, created_again = services.receive_inbound(**kwargs)
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Message.objects.filter(provider_message_id="wamid.once").count() == 1


@pg
def test_maintenance_creates_the_months_ahead_and_moves_strays_out_of_the_default():
    now = timezone.now()
    far = partitions.add_months(partitions.month_start(now), 6)
    stray = MessageFactory(
        created_at=datetime(far.year, far.month, 2, tzinfo=UTC), provider_message_id="wamid.far"
    )
    assert partitions.partition_name("conversations_message", far) not in names(
        "conversations_message"
    )

    result = partitions.create_ahead(now, 7)

    for table in partitions.TABLES:
        for n in range(8):
            month = partitions.add_months(partitions.month_start(now), n)
            assert partitions.partition_name(table, month) in names(table)
    assert result.moved == 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {partitions.partition_name('conversations_message', far)}"  # noqa: S608
        )
        assert cursor.fetchall() == [(stray.pk,)]
    # Its key stayed: the id is still taken on its channel, and the message still found by it.
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageFactory(conversation=stray.conversation, provider_message_id="wamid.far")
    assert Message.objects.get(channel=stray.channel, provider_message_id="wamid.far") == stray
    # Idempotent.
    assert partitions.create_ahead(now, 7).created == []


@pg
def test_retention_drops_the_partitions_older_than_n_months_and_their_keys(settings):
    now = datetime(2026, 12, 5, 9, tzinfo=UTC)
    partitions.create_ahead(datetime(2025, 10, 1, tzinfo=UTC), 14)
    conversation = ConversationFactory(opened_at=at(2025, 10))
    old = MessageFactory(
        conversation=conversation, created_at=at(2025, 10), provider_message_id="wamid.old"
    )
    kept = MessageFactory(
        conversation=conversation, created_at=at(2025, 12, 1), provider_message_id="wamid.kept"
    )
    EventFactory(conversation=conversation, created_at=at(2025, 11))
    EventFactory(conversation=conversation, created_at=at(2026, 1))

    settings.HISTORY_RETENTION_MONTHS = 0
    assert partitions.drop_expired(now).dropped == []  # the default keeps everything

    dry = partitions.drop_expired(now, 12, dry_run=True)
    assert "conversations_message_y2025m11" in dry.dropped
    assert Message.objects.filter(pk=old.pk).exists()

    settings.HISTORY_RETENTION_MONTHS = 12  # December 2025 on stays
    result = partitions.maintain(now)

    assert set(result.dropped) == {
        f"{table}_y2025m{month}" for table in partitions.TABLES for month in ("10", "11")
    }
    assert names("conversations_message")[0] == "conversations_message_y2025m12"
    assert list(Message.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(Event.objects.values_list("created_at", flat=True)) == [at(2026, 1)]
    # The dropped message's id is free again; the kept one's is not.
    MessageFactory(conversation=conversation, provider_message_id="wamid.old")
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageFactory(conversation=conversation, provider_message_id="wamid.kept")


@pg
def test_the_conversation_page_prunes_to_the_months_since_the_conversation_opened():
    now = timezone.now()
    partitions.create_ahead(now - 8 * MONTH, 9)
    conversation = ConversationFactory(opened_at=now - timedelta(hours=2))
    MessageFactory(conversation=conversation, created_at=now - timedelta(hours=1))
    EventFactory(conversation=conversation, created_at=now - timedelta(hours=1))
    current = partitions.month_start(now - timedelta(hours=2) - partitions.THREAD_SLACK)

    with CaptureQueriesContext(connection) as captured:
        page = queries.thread_page(conversation, size=50)
        queries.events(conversation)
    assert len(page.items) == 1
    for query in captured.captured_queries:
        sql = query["sql"]
        for table in partitions.TABLES:
            if f'FROM "{table}"' not in sql:
                continue
            read = scanned(plan(sql), table)
            assert read, sql
            older = {
                partitions.partition_name(table, partitions.add_months(current, -n))
                for n in range(1, 9)
            }
            assert not read & older, read


@pg
def test_reports_and_the_inbound_lookup_prune_to_their_partitions():
    now = timezone.now()
    partitions.create_ahead(now - 8 * MONTH, 9)
    channel = ChannelFactory()
    month = partitions.month_start(now)
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    period = Period(first=start.date(), last=start.date() + timedelta(days=6), tz=UTC)
    sql, params = _message_groups_sql([channel.pk], period)
    assert scanned(plan(sql, params), "conversations_message") == {
        partitions.partition_name("conversations_message", month)
    }

    reopened = Event.objects.filter(
        kind=Event.Kind.STATUS_CHANGED, created_at__gte=start, created_at__lt=period.end
    )
    sql, params = reopened.query.sql_with_params()
    assert scanned(plan(sql, params), "conversations_event") == {
        partitions.partition_name("conversations_event", month)
    }


def test_the_command_lists_and_maintains(capsys):
    call_command("partitions", "--dry-run")
    out = capsys.readouterr().out
    if not is_postgres():
        assert "plain tables" in out
        return
    call_command("partitions", "--list")
    assert "conversations_message_default" in capsys.readouterr().out


def test_the_command_refuses_a_bad_retention():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="retention-months"):
        call_command("partitions", "--retention-months", "-1")


@pg
def test_a_message_is_found_by_its_provider_id_in_one_partition():
    """The inbound statement's redelivery check goes through the key table to the message's
    own partition (run-time pruning: the other partitions are never read)."""
    now = timezone.now()
    partitions.create_ahead(now - 8 * MONTH, 9)
    message = MessageFactory(provider_message_id="wamid.here")
    sql = inbound_sql.TEMPLATE.split("dup AS (")[1].split("),\nfound AS")[0]
    sql = sql.replace("(SELECT id FROM ch)", "%(channel)s")
    text = plan_analyze(sql, {"channel": message.channel_id, "wamid": "wamid.here"})
    read = [
        line for line in text.splitlines()
        if "conversations_message_" in line and "never executed" not in line
    ]  # fmt: skip
    assert len(read) == 1, text
    assert (
        partitions.partition_name("conversations_message", partitions.month_start(now)) in read[0]
    )


@pg
def test_a_status_webhook_reads_the_one_partition_of_its_reply():
    now = timezone.now()
    partitions.create_ahead(now - 8 * MONTH, 9)
    reply = MessageFactory(direction="out", provider_message_id="wamid.reply")
    match = partitions.by_provider_id(reply.channel_id, "wamid.reply")
    assert list(Message.objects.filter(match)) == [reply]
    sql, params = Message.objects.filter(match).query.sql_with_params()
    text = plan_analyze(sql, params)
    read = [
        line for line in text.splitlines()
        if "on conversations_message_" in line and "never executed" not in line
    ]  # fmt: skip
    assert len(read) == 1, text
    assert "Subplans Removed" in text or "never executed" in text
    assert not Message.objects.filter(partitions.by_provider_id(reply.channel_id, "wamid.x"))
