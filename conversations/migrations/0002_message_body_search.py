"""A full-text index on message text for the inbox search, on PostgreSQL only.

SQLite (the embedded default) has no equivalent; the inbox falls back to a capped scan there.
The expression must stay identical to conversations.queries._BodyMatches to be used.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS msg_body_fts ON conversations_message "
    "USING gin (to_tsvector('simple'::regconfig, body))"
)
DROP = "DROP INDEX IF EXISTS msg_body_fts"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("conversations", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
