"""Trigram indexes for the inbox's contact search (name and number substrings), PostgreSQL only.

They need the pg_trgm extension (trusted since PostgreSQL 13, so the database owner can create
it). Where it cannot be created, the migration skips the indexes and the search still works, as
a sequential scan of the contact table. The expressions match Django's SQL for
``profile_name__icontains`` and ``wa_id__contains``.
"""

from django.db import DatabaseError, migrations, transaction

INDEXES = [
    "CREATE INDEX IF NOT EXISTS contact_name_trgm ON conversations_contact "
    "USING gin ((UPPER(profile_name::text)) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS contact_wa_id_trgm ON conversations_contact "
    "USING gin ((wa_id::text) gin_trgm_ops)",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        return  # no privilege: keep the plain scan
    for sql in INDEXES:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS contact_name_trgm")
        schema_editor.execute("DROP INDEX IF EXISTS contact_wa_id_trgm")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0002_message_body_search")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
