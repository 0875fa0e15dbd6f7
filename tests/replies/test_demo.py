"""seed_demo loads saved replies in English and German, of every scope, once."""

from io import StringIO

from django.core.management import call_command

from replies.models import SavedReply


def test_seed_demo_loads_saved_replies_once(db):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    replies = {r.shortcut: r for r in SavedReply.objects.select_related("owner", "team")}
    assert {"thanks", "danke", "returns", "ruecksendung", "shipped", "night", "sig"} <= set(
        replies
    )
    assert SavedReply.objects.count() == len(replies)
    assert replies["danke"].language == "de" and replies["thanks"].language == "en"
    assert replies["night"].team.name == "Night shift"
    assert replies["sig"].owner.username == "carlos"
    assert replies["shipped"].template.name == "order_shipped"
