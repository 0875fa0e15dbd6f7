# Messages and events partitioned by month on PostgreSQL (issue 20 item 1; docs/partitions.md).
# SQLite keeps plain tables and Django's model state does not change: ``id`` stays the models'
# primary key, while on PostgreSQL the tables' real primary key is (id, created_at), as a
# partitioned table's keys must contain its partition key.
#
# Self-contained on purpose (a migration must not follow later edits of the app's code): the
# monthly partitions made here use the same names and bounds as conversations.partitions.
#
# Per table: the old table is renamed, an empty table ``PARTITION BY RANGE (created_at)`` takes
# its name and its columns, defaults, CHECK and foreign-key constraints and indexes (same names,
# from the catalog), one partition per month from the oldest row to three months ahead plus a
# DEFAULT partition, the rows are copied, the old table dropped. ``id`` keeps counting on from
# the old identity through a sequence of the same name.
#
# Messages are unique per (channel, provider message id): that cannot be a unique index of a
# partitioned table (it lacks created_at), so a plain table ``conversations_messagekey`` holds
# the pair as its primary key (constraint ``message_provider_id_unique_per_channel``, the old
# constraint's name) with the message's id and created_at, kept by triggers on every INSERT,
# UPDATE of the id's columns, DELETE and TRUNCATE of messages: every writer (ORM, raw SQL, bench
# loaders) keeps the guarantee, and a duplicate raises unique_violation as before. The inbound
# statement (conversations.inbound_sql) inserts the key itself first with ON CONFLICT DO NOTHING.

from django.db import migrations

TABLES = ("conversations_message", "conversations_event")
MONTHS_AHEAD = 3

REFUSE_REFERENCES = """
DO $$
DECLARE ref text;
BEGIN
    SELECT string_agg(conrelid::regclass || '.' || conname, ', ') INTO ref
    FROM pg_constraint WHERE contype = 'f' AND confrelid = '{table}'::regclass;
    IF ref IS NOT NULL THEN
        RAISE EXCEPTION '{table} cannot be partitioned while foreign keys reference it: %',
            ref USING HINT = 'ForeignKey(..., db_constraint=False), docs/partitions.md';
    END IF;
END $$;
"""

MONTHLY = """
DO $$
DECLARE
    first_month date := date_trunc('month', LEAST(
        (SELECT min(created_at) FROM {table}_unpartitioned), now()) AT TIME ZONE 'UTC')::date;
    last_month date := (date_trunc('month', now() AT TIME ZONE 'UTC')
                        + interval '{ahead} months')::date;
    m date := first_month;
BEGIN
    WHILE m <= last_month LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF {table} FOR VALUES FROM (%L) TO (%L)',
            '{table}_' || to_char(m, '"y"YYYY"m"MM'),
            m::timestamp AT TIME ZONE 'UTC',
            (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;
CREATE TABLE {table}_default PARTITION OF {table} DEFAULT;
"""

KEY_TABLE = """
CREATE TABLE conversations_messagekey (
    channel_id bigint NOT NULL,
    provider_message_id varchar(128) NOT NULL,
    message_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT message_provider_id_unique_per_channel
        PRIMARY KEY (channel_id, provider_message_id)
);
INSERT INTO conversations_messagekey
SELECT channel_id, provider_message_id, id, created_at FROM conversations_message
WHERE provider_message_id IS NOT NULL;

CREATE FUNCTION conversations_messagekey_sync() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
    owner bigint;
BEGIN
    -- conversations.partitions moves rows between partitions with the keys unchanged.
    IF current_setting('desk.partition_move', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.provider_message_id IS NOT NULL THEN
        DELETE FROM conversations_messagekey
        WHERE channel_id = OLD.channel_id AND provider_message_id = OLD.provider_message_id
          AND message_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.provider_message_id IS NOT NULL THEN
        SELECT message_id INTO owner FROM conversations_messagekey
        WHERE channel_id = NEW.channel_id AND provider_message_id = NEW.provider_message_id;
        IF NOT FOUND THEN
            -- A concurrent writer of the same key makes this INSERT raise unique_violation.
            INSERT INTO conversations_messagekey
            VALUES (NEW.channel_id, NEW.provider_message_id, NEW.id, NEW.created_at);
        ELSIF owner <> NEW.id THEN
            RAISE unique_violation USING
                MESSAGE = 'duplicate key value violates unique constraint '
                          '"message_provider_id_unique_per_channel"',
                DETAIL = format('Key (channel_id, provider_message_id)=(%s, %s) already exists.',
                                NEW.channel_id, NEW.provider_message_id),
                CONSTRAINT = 'message_provider_id_unique_per_channel',
                TABLE = 'conversations_message';
        END IF;
    END IF;
    RETURN NULL;
END
$f$;

CREATE FUNCTION conversations_messagekey_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    TRUNCATE conversations_messagekey;
    RETURN NULL;
END
$f$;

CREATE TRIGGER messagekey_insert AFTER INSERT ON conversations_message
    FOR EACH ROW WHEN (NEW.provider_message_id IS NOT NULL)
    EXECUTE FUNCTION conversations_messagekey_sync();
CREATE TRIGGER messagekey_update AFTER UPDATE ON conversations_message
    FOR EACH ROW WHEN (OLD.provider_message_id IS DISTINCT FROM NEW.provider_message_id
                       OR OLD.channel_id <> NEW.channel_id OR OLD.created_at <> NEW.created_at)
    EXECUTE FUNCTION conversations_messagekey_sync();
CREATE TRIGGER messagekey_delete AFTER DELETE ON conversations_message
    FOR EACH ROW WHEN (OLD.provider_message_id IS NOT NULL)
    EXECUTE FUNCTION conversations_messagekey_sync();
CREATE TRIGGER messagekey_truncate AFTER TRUNCATE ON conversations_message
    FOR EACH STATEMENT EXECUTE FUNCTION conversations_messagekey_truncate();
"""


def _partition(cursor, table: str) -> None:
    cursor.execute(REFUSE_REFERENCES.format(table=table))
    # Definitions read before the rename, so they name the table the new one takes over.
    cursor.execute(
        """SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           WHERE x.indrelid = %s::regclass AND NOT x.indisprimary ORDER BY i.relname""",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname""",
        [table],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    (old_sequence,) = cursor.fetchone()

    cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
    cursor.execute(
        f"ALTER TABLE {table}_unpartitioned RENAME CONSTRAINT {table}_pkey"
        f" TO {table}_unpartitioned_pkey"
    )
    cursor.execute(
        f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS"
        " INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at)"
    )
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id, created_at)")
    cursor.execute(MONTHLY.format(table=table, ahead=MONTHS_AHEAD))
    cursor.execute(f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned")  # noqa: S608
    cursor.execute(f"CREATE SEQUENCE {table}_id_partitioned_seq OWNED BY {table}.id")
    cursor.execute(
        f"""SELECT setval('{table}_id_partitioned_seq', GREATEST(
                (SELECT max(id) FROM {table}_unpartitioned),
                (SELECT CASE WHEN is_called THEN last_value END FROM {old_sequence}),
                0) + 1, false)"""  # noqa: S608
    )
    cursor.execute(f"DROP TABLE {table}_unpartitioned")
    cursor.execute(f"ALTER SEQUENCE {table}_id_partitioned_seq RENAME TO {table}_id_seq")
    cursor.execute(
        f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq'::regclass)"
    )
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        if name == "message_provider_id_unique_per_channel":
            # Not unique per partition: the key table holds the guarantee; this index serves
            # the lookups by provider message id (status webhooks, edits, history import).
            definition = definition.replace("CREATE UNIQUE INDEX", "CREATE INDEX").replace(
                name, "msg_provider_id"
            )
        cursor.execute(definition)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (development, the SQLite suite): plain tables
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            _partition(cursor, table)
        cursor.execute(KEY_TABLE)


def _unpartition(cursor, table: str) -> None:
    """The reverse: the same table, plain, with its identity column and unique constraint."""
    cursor.execute(
        """SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           WHERE x.indrelid = %s::regclass AND NOT x.indisprimary ORDER BY i.relname""",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname""",
        [table],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_partitioned")
    cursor.execute(
        f"ALTER TABLE {table}_partitioned RENAME CONSTRAINT {table}_pkey"
        f" TO {table}_partitioned_pkey"
    )
    cursor.execute(
        f"CREATE TABLE {table} (LIKE {table}_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id DROP DEFAULT")
    cursor.execute(f"INSERT INTO {table} SELECT * FROM {table}_partitioned")  # noqa: S608
    cursor.execute(
        f"SELECT COALESCE(max(id), 0) + 1, nextval('{table}_id_seq') FROM {table}"  # noqa: S608
    )
    start = max(cursor.fetchone())
    cursor.execute(f"DROP TABLE {table}_partitioned")
    cursor.execute(
        f"ALTER TABLE {table} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY"
        f" (START WITH {int(start)})"
    )
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        definition = definition.replace(" ON ONLY ", " ON ")
        if name == "msg_provider_id":
            definition = definition.replace("CREATE INDEX", "CREATE UNIQUE INDEX").replace(
                name, "message_provider_id_unique_per_channel"
            )
        cursor.execute(definition)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "DROP TABLE conversations_messagekey;"
            " DROP TRIGGER messagekey_truncate ON conversations_message;"
            " DROP FUNCTION conversations_messagekey_truncate() CASCADE;"
            " DROP FUNCTION conversations_messagekey_sync() CASCADE"
        )
        for table in TABLES:
            _unpartition(cursor, table)


class Migration(migrations.Migration):
    # One transaction: a failure leaves the plain tables as they were.
    atomic = True

    dependencies = [
        ("conversations", "0016_conversation_snoozed"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
