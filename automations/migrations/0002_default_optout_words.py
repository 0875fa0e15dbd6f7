"""The stop and start words a new desk starts with (admins edit them under Opt-out words)."""

from django.db import migrations

STOP = {
    "en": ["STOP", "UNSUBSCRIBE", "STOP ALL", "OPT OUT"],
    "de": ["STOPP", "Abmelden", "Abbestellen", "Austragen"],
    "es": ["BAJA", "PARAR"],
    "fr": ["ARRET", "ARRÊT", "DÉSABONNER"],
}
START = {
    "en": ["START", "SUBSCRIBE", "UNSTOP"],
    "de": ["Anmelden", "STARTEN"],
    "es": ["ALTA"],
    "fr": ["ABONNER"],
}


def add_words(apps, schema_editor):
    OptOutWord = apps.get_model("automations", "OptOutWord")
    for kind, table in (("stop", STOP), ("start", START)):
        for language, words in table.items():
            for word in words:
                OptOutWord.objects.get_or_create(
                    word=word, defaults={"kind": kind, "language": language}
                )


class Migration(migrations.Migration):
    dependencies = [("automations", "0001_initial")]
    operations = [migrations.RunPython(add_words, migrations.RunPython.noop)]
