"""Saved replies, and on PostgreSQL a trigram index for the composer's search.

The search is ``search_text LIKE '%q%'`` (replies/queries.py); a GIN trigram index on the column
serves it. pg_trgm is enabled by conversations 0003 where the role may create it; where it
cannot be created the index is skipped and the search scans the (small) table instead.
"""

import django.core.validators
import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import DatabaseError, migrations, models, transaction

TRIGRAM_INDEX = (
    "CREATE INDEX IF NOT EXISTS saved_reply_search_trgm ON replies_savedreply "
    "USING gin (search_text gin_trgm_ops)"
)


def add_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        return  # no privilege: the search scans the table
    schema_editor.execute(TRIGRAM_INDEX)


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS saved_reply_search_trgm")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('channels_app', '0002_template_draft_status'),
        ('conversations', '0003_contact_search_trigram'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='SavedReply',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('title', models.CharField(max_length=120, verbose_name='title')),
                ('shortcut', models.CharField(help_text='Type “/” and the shortcut in the reply box, e.g. /refund.', max_length=40, validators=[django.core.validators.RegexValidator('^[a-z0-9][a-z0-9_-]*\\Z', 'A shortcut is lower-case letters a–z, digits, “-” and “_”, starting with a letter or digit (no spaces, no slash).')], verbose_name='shortcut')),
                ('body', models.TextField(help_text='Placeholders: {{contact.first_name}}, {{contact.name}}, {{agent.first_name}}, {{agent.name}}, {{channel.name}}; a fallback after “|” is used when the value is unknown: {{contact.first_name|there}}.', max_length=4096, verbose_name='text')),
                ('scope', models.CharField(choices=[('personal', 'Personal'), ('team', 'Team'), ('global', 'Global')], max_length=16, verbose_name='scope')),
                ('language', models.CharField(blank=True, choices=[('', 'Any language'), ('en', 'English'), ('de', 'German')], default='', max_length=8, verbose_name='language')),
                ('template_params', models.TextField(blank=True, help_text='One line per template parameter ({{1}}, {{2}}, …), placeholders allowed; the agent can still change them before sending.', verbose_name='template parameters')),
                ('search_text', models.GeneratedField(db_persist=True, expression=django.db.models.functions.text.Lower(django.db.models.functions.text.Concat('shortcut', models.Value(' '), 'title', models.Value(' '), 'body', output_field=models.TextField())), output_field=models.TextField())),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                ('owner', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='saved_replies', to=settings.AUTH_USER_MODEL, verbose_name='owner')),
                ('team', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='saved_replies', to='channels_app.team', verbose_name='team')),
                ('template', models.ForeignKey(blank=True, help_text='An approved template that says the same: offered when the 24-hour window is closed.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='saved_replies', to='channels_app.messagetemplate', verbose_name='WhatsApp template')),
            ],
            options={
                'verbose_name': 'saved reply',
                'verbose_name_plural': 'saved replies',
                'ordering': ['title', 'id'],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('owner__isnull', False), ('scope', 'personal'), ('team__isnull', True)), models.Q(('owner__isnull', True), ('scope', 'team'), ('team__isnull', False)), models.Q(('owner__isnull', True), ('scope', 'global'), ('team__isnull', True)), _connector='OR'), name='saved_reply_scope_matches_owner_and_team', violation_error_message='A personal reply has an owner, a team reply a team, a global one neither.'), models.UniqueConstraint(condition=models.Q(('scope', 'personal')), fields=('owner', 'shortcut'), name='saved_reply_owner_shortcut', violation_error_message='You already have a saved reply with this shortcut.'), models.UniqueConstraint(condition=models.Q(('scope', 'team')), fields=('team', 'shortcut'), name='saved_reply_team_shortcut', violation_error_message='This team already has a saved reply with this shortcut.'), models.UniqueConstraint(condition=models.Q(('scope', 'global')), fields=('shortcut',), name='saved_reply_global_shortcut', violation_error_message='A global saved reply already has this shortcut.')],
            },
        ),
        migrations.RunPython(add_trigram_index, drop_trigram_index, elidable=False),
    ]
