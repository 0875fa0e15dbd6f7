# The reports' pre-aggregates moved to the reports app (reports/migrations/0001_initial.py
# takes them over). Only Django's model state changes: the tables stay, with their rows.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("conversations", "0012_tag_color_rrggbb"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="MessageTally"),
                migrations.DeleteModel(name="TallyWatermark"),
            ],
            database_operations=[],
        ),
    ]
