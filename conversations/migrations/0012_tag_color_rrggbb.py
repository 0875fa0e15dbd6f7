"""Tag colours are "#rrggbb" (they go into a style attribute): existing rows are normalised
first ("#ABC" → "#aabbcc", "AABBCC" → "#aabbcc", anything else → the default grey), then the
validator and a check constraint hold the rule."""

import re

import django.core.validators
from django.db import migrations, models

DEFAULT = "#64748b"
PATTERN = r"^#[0-9a-f]{6}$"
MESSAGE = "Enter the colour as # and six hexadecimal digits, e.g. #64748b."


def normalised(value: str) -> str:
    text = (value or "").strip().lower().removeprefix("#")
    if re.fullmatch(r"[0-9a-f]{6}", text):
        return "#" + text
    if re.fullmatch(r"[0-9a-f]{3}", text):
        return "#" + "".join(c * 2 for c in text)
    return DEFAULT


def normalise_colors(apps, schema_editor):
    Tag = apps.get_model("conversations", "Tag")
    for tag in Tag.objects.all().only("id", "color"):
        color = normalised(tag.color)
        if color != tag.color:
            Tag.objects.filter(pk=tag.pk).update(color=color)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0011_message_media_pending"),
    ]

    operations = [
        migrations.RunPython(normalise_colors, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="tag",
            name="color",
            field=models.CharField(
                default=DEFAULT,
                max_length=7,
                validators=[
                    django.core.validators.RegexValidator(
                        PATTERN, MESSAGE, code="invalid_color"
                    )
                ],
                verbose_name="colour",
            ),
        ),
        migrations.AddConstraint(
            model_name="tag",
            constraint=models.CheckConstraint(
                condition=models.Q(color__regex=PATTERN),
                name="tag_color_is_rrggbb",
                violation_error_message=MESSAGE,
            ),
        ),
    ]
