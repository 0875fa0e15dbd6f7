"""The /saved-replies/ page: list, add, edit, delete, with access, CSRF and form errors."""

import pytest
from django.test import Client
from django.urls import reverse

from replies.models import SavedReply
from tests.factories import TemplateFactory

MANAGE = "/saved-replies/"


def test_the_page_lists_own_replies_and_the_shared_ones_read_only(client, cast, replies):
    client.force_login(cast.contributor)
    html = client.get(MANAGE).content.decode()
    assert reverse("replies:edit", args=[replies.mine.pk]) in html
    assert "/hello" in html  # global, shared
    assert reverse("replies:edit", args=[replies.everyone.pk]) not in html
    assert "/private" not in html and "/night" not in html and "/day" not in html


def test_a_viewer_is_told_why_the_page_is_not_for_them(client, cast):
    client.force_login(cast.viewer)
    response = client.get(MANAGE)
    assert response.status_code == 403
    assert "your role allows replying on no channel" in response.content.decode()


def test_anonymous_users_go_to_the_login(client):
    response = client.get(MANAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_an_agent_adds_a_personal_reply(client, cast):
    client.force_login(cast.contributor)
    response = client.post(
        reverse("replies:add"),
        {"title": "Refund", "shortcut": "/Refund", "body": "Hi {{contact.first_name|there}}"},
        follow=True,
    )
    assert "Saved reply “Refund” added." in response.content.decode()
    reply = SavedReply.objects.get()
    assert (reply.scope, reply.owner, reply.shortcut) == ("personal", cast.contributor, "refund")


def test_form_errors_are_shown_next_to_their_fields_and_nothing_is_saved(client, cast, replies):
    client.force_login(cast.contributor)
    response = client.post(
        reverse("replies:add"),
        {"title": "", "shortcut": "thanks", "body": "Hi {{contact.email}}", "language": "fr"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["title"] == ["This field is required."]
    assert errors["language"][0].startswith("Select a valid choice.")
    html = response.content.decode()
    assert 'id="id_title_errors"' in html
    assert SavedReply.objects.count() == 5

    response = client.post(
        reverse("replies:add"), {"title": "T", "shortcut": "thanks", "body": "Hi {{contact.email}}"}
    )
    errors = response.context["form"].errors
    assert errors["shortcut"] == ["You already have a saved reply with this shortcut."]
    assert errors["body"][0].startswith("Unknown placeholder “{{contact.email}}”")


def test_the_german_page_and_errors_are_translated(client, cast):
    client.force_login(cast.contributor)
    client.cookies["django_language"] = "de"
    assert "Ihre gespeicherten Antworten" in client.get(MANAGE).content.decode()
    response = client.post(
        reverse("replies:add"), {"title": "T", "shortcut": "t", "body": "{{kunde.name}}"}
    )
    assert response.context["form"].errors["body"][0].startswith("Unbekannter Platzhalter")


def test_an_agent_edits_and_deletes_their_own_reply(client, cast, replies):
    client.force_login(cast.contributor)
    edit = reverse("replies:edit", args=[replies.mine.pk])
    assert client.get(edit).status_code == 200
    response = client.post(edit, {"title": "Thanks!", "shortcut": "thanks", "body": "Thank you."})
    assert response.status_code == 302
    replies.mine.refresh_from_db()
    assert replies.mine.title == "Thanks!"

    delete = reverse("replies:delete", args=[replies.mine.pk])
    assert "This cannot be undone." in client.get(delete).content.decode()
    assert SavedReply.objects.filter(pk=replies.mine.pk).exists()  # GET only asks
    client.post(delete)
    assert not SavedReply.objects.filter(pk=replies.mine.pk).exists()


@pytest.mark.parametrize("name", ["edit", "delete"])
def test_another_users_personal_reply_is_a_404(client, cast, replies, name):
    client.force_login(cast.contributor)
    url = reverse(f"replies:{name}", args=[replies.theirs.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"title": "x", "shortcut": "x", "body": "x"}).status_code == 404
    replies.theirs.refresh_from_db()
    assert replies.theirs.title == "Sam's own"


@pytest.mark.parametrize("name", ["edit", "delete"])
def test_a_shared_reply_is_a_403_on_the_agents_page(client, cast, replies, name):
    client.force_login(cast.contributor)
    response = client.post(reverse(f"replies:{name}", args=[replies.everyone.pk]))
    assert response.status_code == 403
    assert "managed by admins in the admin" in response.content.decode()
    assert SavedReply.objects.filter(pk=replies.everyone.pk, title="Hello").exists()


def test_posts_need_a_csrf_token(cast, replies):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.contributor)
    add = client.post(reverse("replies:add"), {"title": "T", "shortcut": "t", "body": "x"})
    delete = client.post(reverse("replies:delete", args=[replies.mine.pk]))
    assert (add.status_code, delete.status_code) == (403, 403)
    assert SavedReply.objects.count() == 5


def test_the_template_choices_are_the_approved_ones_on_the_agents_channels(client, cast):
    mine = TemplateFactory(channel=cast.channel, name="shipping_update")
    TemplateFactory(channel=cast.other_channel, name="other_brand_promo")
    TemplateFactory(channel=cast.channel, name="draft_one", status="DRAFT")
    client.force_login(cast.contributor)
    html = client.get(reverse("replies:add")).content.decode()
    assert "shipping_update" in html
    assert "other_brand_promo" not in html and "draft_one" not in html
    response = client.post(
        reverse("replies:add"),
        {"title": "Ship", "shortcut": "ship", "body": "x", "template": mine.pk,
         "template_params": "{{contact.first_name|there}}"},
    )  # fmt: skip
    assert response.status_code == 302
    assert SavedReply.objects.get().template == mine
