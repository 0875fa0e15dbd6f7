"""A tag's colour is "#rrggbb" (issue 12, item 11): it is written into a style attribute, where
free text could carry any CSS."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from conversations.models import Tag
from tests.factories import TagFactory

INJECTION = "red;background:url(https://evil.example/x)"


@pytest.mark.django_db
@pytest.mark.parametrize("color", [INJECTION, "red", "#abc", "#12345g", "#1234567", "64748b", ""])
def test_the_admin_refuses_anything_but_rrggbb(admin_client, color):
    response = admin_client.post("/admin/conversations/tag/add/", {"name": "vip", "color": color})
    assert response.status_code == 200
    assert not Tag.objects.filter(name="vip").exists()
    if len(color) > 7:
        assert "Ensure this value has at most 7 characters" in response.text
    elif color:
        assert "Enter the colour as # and six hexadecimal digits, e.g. #64748b." in response.text


@pytest.mark.django_db
def test_the_admin_stores_a_colour_in_lower_case_from_its_colour_picker(admin_client):
    page = admin_client.get("/admin/conversations/tag/add/")
    assert 'type="color"' in page.text
    data = {"name": "vip", "color": "#7C3AED"}
    response = admin_client.post("/admin/conversations/tag/add/", data)
    assert response.status_code == 302
    assert Tag.objects.get(name="vip").color == "#7c3aed"


@pytest.mark.django_db
def test_the_model_and_the_database_refuse_a_bad_colour():
    with pytest.raises(ValidationError, match="six hexadecimal digits"):
        Tag(name="vip", color=INJECTION).full_clean()
    # Seven characters, so that the check constraint (not the column's length) refuses it.
    for bad in ("#zzzzzz", "red;a:b", "#ABCDEF"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Tag.objects.create(name="vip", color=bad)
    assert TagFactory(color="#b91c1c").color == "#b91c1c"


@pytest.mark.django_db(transaction=True)
def test_the_migration_normalises_existing_colours():
    executor = MigrationExecutor(connection)
    executor.migrate([("conversations", "0011_message_media_pending")])
    before = {
        "short": "#ABC",
        "bare": "AABBCC",
        "upper": "#7C3AED",
        "fine": "#64748b",
        "css": INJECTION,
        "name": "red",
    }
    with connection.cursor() as cursor:
        for name, color in before.items():
            cursor.execute(
                "INSERT INTO conversations_tag (name, color) VALUES (%s, %s)", [name, color[:7]]
            )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    after = dict(Tag.objects.values_list("name", "color"))
    assert after == {
        "short": "#aabbcc",
        "bare": "#aabbcc",
        "upper": "#7c3aed",
        "fine": "#64748b",
        "css": "#64748b",
        "name": "#64748b",
    }
