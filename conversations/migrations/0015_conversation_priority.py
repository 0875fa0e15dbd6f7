from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0014_message_media_due_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="priority",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "Low"), (1, "Normal"), (2, "High"), (3, "Urgent")],
                db_default=1,
                default=1,
                verbose_name="priority",
            ),
        ),
    ]
