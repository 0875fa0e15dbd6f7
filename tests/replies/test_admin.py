"""Admins manage team and global saved replies in the admin; personal ones are not listed."""

from django.urls import reverse

from replies.models import SavedReply
from tests.factories import SavedReplyFactory

ADD = "admin:replies_savedreply_add"


def _form(**fields):
    data = {"title": "Opening hours", "shortcut": "hours", "body": "Mon–Fri 9–18, {{agent.name}}",
            "scope": "global", "team": "", "language": "en", "template": "",
            "template_params": ""}  # fmt: skip
    data.update(fields)
    return data


def test_an_admin_adds_a_team_reply(client, cast):
    client.force_login(cast.admin)
    response = client.post(reverse(ADD), _form(scope="team", team=cast.team.pk))
    assert response.status_code == 302
    reply = SavedReply.objects.get()
    assert (reply.scope, reply.team, reply.owner) == ("team", cast.team, None)


def test_the_admin_form_shows_the_services_errors(client, cast, replies):
    client.force_login(cast.admin)
    response = client.post(reverse(ADD), _form(shortcut="hello", body="{{contact.phone}}"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["shortcut"] == ["A global saved reply already has this shortcut."]
    assert errors["body"][0].startswith("Unknown placeholder “{{contact.phone}}”")
    response = client.post(reverse(ADD), _form(scope="team"))
    assert response.context["adminform"].form.errors == {
        "team": ["Pick the team this saved reply is for."]
    }


def test_personal_replies_are_not_in_the_admin(client, cast, replies):
    client.force_login(cast.admin)
    html = client.get(reverse("admin:replies_savedreply_changelist")).content.decode()
    assert "Hello" in html and "Night" in html
    assert "Thank you" not in html and "Sam&#x27;s own" not in html
    change = reverse("admin:replies_savedreply_change", args=[replies.mine.pk])
    assert client.get(change).status_code == 302  # "does not exist": back to the index


def test_an_admin_deletes_a_global_reply_through_the_service(client, cast):
    reply = SavedReplyFactory(shortcut="gone")
    client.force_login(cast.admin)
    client.post(
        reverse("admin:replies_savedreply_delete", args=[reply.pk]), {"post": "yes"}
    )
    assert not SavedReply.objects.filter(pk=reply.pk).exists()
