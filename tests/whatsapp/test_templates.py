"""Templates: sync from the emulator, drafts and submission from the admin, review webhooks."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from channels_app import template_services
from channels_app.models import MessageTemplate
from tests.factories import TemplateFactory, UserFactory
from tests.whatsapp.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
Status = MessageTemplate.Status
BODY = [
    {
        "type": "BODY",
        "text": "Hi {{1}}, order {{2}} shipped.",
        "example": {"body_text": [["Dana", "4471"]]},
    }
]


def template_form(channel, **parts) -> dict:
    """The admin's template form as a browser posts it (empty button rows included)."""
    data = {
        "channel": channel.pk,
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "header": "",
        "header_example": "",
        "body": "Hi {{1}}, order {{2}} shipped.",
        "body_examples": "Dana\n4471",
        "footer": "",
        **{f"buttons_{i}": "" for i in range(40)},
    }
    data.update(parts)
    return data


def test_sync_upserts_templates_and_marks_vanished_ones_deleted(emulator, wa_channel):
    emulator.templates[wa_channel.waba_id] = {}
    emulator.add_template(wa_channel.waba_id, name="order_shipped", components=BODY)
    emulator.add_template(wa_channel.waba_id, name="promo", status="REJECTED", category="MARKETING")
    gone = TemplateFactory(channel=wa_channel, name="old_one", provider_id="1")
    draft = TemplateFactory(
        channel=wa_channel, name="my_draft", provider_id="", status=Status.DRAFT
    )

    result = template_services.sync_templates(wa_channel)

    assert (result.created, result.deleted) == (2, 1)
    shipped = MessageTemplate.objects.get(channel=wa_channel, name="order_shipped")
    assert shipped.status == Status.APPROVED and shipped.components == BODY
    assert MessageTemplate.objects.get(name="promo").status == Status.REJECTED
    gone.refresh_from_db()
    draft.refresh_from_db()
    assert (gone.status, draft.status) == (Status.DELETED, Status.DRAFT)
    assert template_services.sync_templates(wa_channel).updated == 0  # idempotent


def test_sync_command_and_beat_task_sync_every_channel(emulator, wa_channel, capsys):
    from channels_app.tasks import sync_templates

    emulator.add_template(wa_channel.waba_id, name="from_the_task")
    assert sync_templates.apply().get()["created"] >= 1
    call_command("sync_templates", "--channel", str(wa_channel.pk))
    call_command("sync_templates", "--dry-run")
    assert "template(s) at WhatsApp" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no active WhatsApp channel"):
        call_command("sync_templates", "--channel", "999999")


def test_draft_submitted_from_the_admin_is_approved_by_the_review_webhook(
    emulator, wa_channel, client
):
    admin = UserFactory(username="tina_admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    add_url = reverse("admin:channels_app_messagetemplate_add")
    response = client.post(
        add_url,
        template_form(
            wa_channel, name="delivery_slot", body="Hi {{1}}, pick a slot.", body_examples="Dana"
        ),
    )
    assert response.status_code == 302, response.content
    template = MessageTemplate.objects.get(name="delivery_slot")
    assert template.status == Status.DRAFT

    changelist = reverse("admin:channels_app_messagetemplate_changelist")
    response = client.post(
        changelist,
        {"action": "submit_for_review", "_selected_action": [template.pk]},
        follow=True,
    )
    assert "1 template submitted for review." in response.content.decode()
    template.refresh_from_db()
    # The emulator's review (0.1 s) may already have come back by webhook: PENDING or APPROVED.
    assert template.provider_id and template.status in (Status.PENDING, Status.APPROVED)
    # The emulator approves after its review delay and tells the app by webhook.
    assert wait_for(lambda: MessageTemplate.objects.get(pk=template.pk).status == Status.APPROVED)


def test_admin_refuses_a_bad_draft_with_form_errors(emulator, wa_channel, client):
    client.force_login(UserFactory(username="tom_admin", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:channels_app_messagetemplate_add"),
        template_form(wa_channel, name="Bad Name!", body="Hi {{2}} there", body_examples="x"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Use lowercase letters" in body and "without gaps" in body
    assert not MessageTemplate.objects.exists()


def test_meta_rejection_of_a_submission_is_reported_and_the_draft_kept(emulator, wa_channel):
    emulator.add_template(wa_channel.waba_id, name="taken", components=BODY)
    draft = TemplateFactory(
        channel=wa_channel, name="taken", provider_id="", status=Status.DRAFT, components=BODY
    )
    with pytest.raises(template_services.TemplateError, match="already exists"):
        template_services.submit_template(draft)
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_review_rejection_arrives_with_its_reason(emulator, wa_channel):
    draft = TemplateFactory(
        channel=wa_channel, name="reject_me", provider_id="", status=Status.DRAFT, components=BODY
    )
    template_services.submit_template(draft)
    assert wait_for(lambda: MessageTemplate.objects.get(pk=draft.pk).status == Status.REJECTED)
    assert MessageTemplate.objects.get(pk=draft.pk).rejection_reason.startswith("INVALID_FORMAT")


@pytest.mark.parametrize("page", ["changelist", "add", "change"])
def test_admin_pages_open_for_admins_and_are_hidden_from_staff(page, wa_channel, client):
    template = TemplateFactory(channel=wa_channel, name="<b>escaped</b>")
    url = {
        "changelist": reverse("admin:channels_app_messagetemplate_changelist"),
        "add": reverse("admin:channels_app_messagetemplate_add"),
        "change": reverse("admin:channels_app_messagetemplate_change", args=[template.pk]),
    }[page]
    client.force_login(UserFactory(username="ada_root", is_staff=True, is_superuser=True))
    response = client.get(url)
    assert response.status_code == 200
    assert "<b>escaped</b>" not in response.content.decode()
    client.force_login(UserFactory(username="stan_staff", is_staff=True))
    assert client.get(url).status_code == 403


def test_submit_for_review_is_a_button_on_the_drafts_own_page(emulator, wa_channel, client):
    client.force_login(UserFactory(username="tia_admin", is_staff=True, is_superuser=True))
    draft = TemplateFactory(
        channel=wa_channel,
        name="slot_reminder",
        provider_id="",
        status=Status.DRAFT,
        components=BODY,
    )
    change_url = reverse("admin:channels_app_messagetemplate_change", args=[draft.pk])
    page = client.get(change_url).content.decode()
    assert 'name="_submit_for_review" value="Submit for review"' in page

    # Edited and submitted in one press: saved first, then sent to Meta.
    form = template_form(
        wa_channel,
        name="slot_reminder",
        body="Hi {{1}}, your slot is {{2}}.",
        _submit_for_review="1",
    )
    response = client.post(change_url, form, follow=True)
    assert response.redirect_chain[-1][0] == change_url
    assert "Submitted for review: slot_reminder (en_US)." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Status.PENDING and draft.provider_id
    assert draft.body_text() == "Hi {{1}}, your slot is {{2}}."
    # Submitted: read-only now, and no button any more.
    page = client.get(change_url).content.decode()
    assert "_submit_for_review" not in page and "Hi {{1}}, your slot is {{2}}." in page
    assert wait_for(lambda: MessageTemplate.objects.get(pk=draft.pk).status == Status.APPROVED)


def test_a_refused_submission_from_the_page_keeps_the_saved_draft(emulator, wa_channel, client):
    emulator.add_template(wa_channel.waba_id, name="taken_name", components=BODY)
    client.force_login(UserFactory(username="tia_admin", is_staff=True, is_superuser=True))
    add_url = reverse("admin:channels_app_messagetemplate_add")
    response = client.post(
        add_url, template_form(wa_channel, name="taken_name", _submit_for_review="1"), follow=True
    )
    assert "Saved, but not submitted: taken_name (en_US)" in response.content.decode()
    assert "already exists" in response.content.decode()
    assert MessageTemplate.objects.get(name="taken_name").status == Status.DRAFT
