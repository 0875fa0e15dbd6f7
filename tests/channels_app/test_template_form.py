"""Message templates are written in a form (issue 13, item 9): header, body, footer, buttons and
example values, with Meta's rules (reference/whatsapp-cloud-api.md section 4.2) checked on save."""

import pytest
from django.urls import reverse

from channels_app import template_services
from channels_app.models import MessageTemplate
from tests.factories import ChannelFactory, TemplateFactory

ADD = "admin:channels_app_messagetemplate_add"


def form(channel, buttons=(), **parts) -> dict:
    """The form as a browser posts it; ``buttons`` as (kind, text, address, example) rows."""
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
    for row, values in enumerate(buttons):
        for column, value in enumerate(values):
            data[f"buttons_{row * 4 + column}"] = value
    data.update(parts)
    return data


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_a_template_written_part_by_part_is_stored_as_the_apis_components(admin_client):
    channel = ChannelFactory()
    data = form(
        channel,
        header="Order {{1}}",
        header_example="4471",
        footer="Acme Outdoor Supply",
        buttons=[
            ("QUICK_REPLY", "Stop updates", "", ""),
            ("QUICK_REPLY", "Talk to us", "", ""),
            (
                "URL",
                "Track parcel",
                "https://acme.example.com/track/{{1}}",
                "https://acme.example.com/track/4471",
            ),
            ("PHONE_NUMBER", "Call us", "+4930123456", ""),
        ],
    )
    response = admin_client.post(reverse(ADD), data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    template = MessageTemplate.objects.get(name="order_update")
    assert template.status == MessageTemplate.Status.DRAFT
    assert template.components == [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "Order {{1}}",
            "example": {"header_text": ["4471"]},
        },
        {
            "type": "BODY",
            "text": "Hi {{1}}, order {{2}} shipped.",
            "example": {"body_text": [["Dana", "4471"]]},
        },
        {"type": "FOOTER", "text": "Acme Outdoor Supply"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Stop updates"},
                {"type": "QUICK_REPLY", "text": "Talk to us"},
                {
                    "type": "URL",
                    "text": "Track parcel",
                    "url": "https://acme.example.com/track/{{1}}",
                    "example": ["https://acme.example.com/track/4471"],
                },
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+4930123456"},
            ],
        },
    ]
    # The draft's page shows the parts again, not JSON, and saving it unchanged keeps them.
    change = reverse("admin:channels_app_messagetemplate_change", args=[template.pk])
    page = admin_client.get(change)
    initial = page.context["adminform"].form.initial
    assert (initial["header"], initial["body_examples"], initial["footer"]) == (
        "Order {{1}}",
        "Dana\n4471",
        "Acme Outdoor Supply",
    )
    assert "&quot;type&quot;" not in page.content.decode()  # no JSON on the page
    assert admin_client.post(change, data).status_code == 302
    template.refresh_from_db()
    assert len(template.components) == 4


@pytest.mark.parametrize(
    ("parts", "field", "message"),
    [
        ({"body": ""}, "body", "This field is required."),
        (
            {"body": "{{1}} is on its way.", "body_examples": "Dana"},
            "body",
            "may not start or end with a variable",
        ),
        (
            {"body": "Hi, your order is {{1}}", "body_examples": "4471"},
            "body",
            "may not start or end with a variable",
        ),
        ({"body": "Hi {{1}}{{2}} there", "body_examples": "a\nb"}, "body", "side by side"),
        ({"body": "Hi {{1}} and {{3}} ok", "body_examples": "a\nb"}, "body", "without gaps"),
        ({"body": "Hi {{name}}, ok.", "body_examples": ""}, "body", "Write variables as {{1}}"),
        (
            {"body": "Hi {{1}}, and {{2}} ok.", "body_examples": "Dana"},
            "body_examples",
            "each of the 2 variables",
        ),
        ({"body": "x" * 1025, "body_examples": ""}, "body", "at most 1024 characters"),
        ({"header": "x" * 61}, "header", "at most 60 characters"),
        ({"header": "Order {{1}}"}, "header_example", "example value for the variable"),
        ({"header": "{{1}} and {{2}}", "header_example": "a"}, "header", "at most one variable"),
        ({"footer": "Thanks {{1}}"}, "footer", "A footer cannot have variables."),
        ({"footer": "y" * 61}, "footer", "at most 60 characters"),
        ({"category": "AUTHENTICATION"}, "category", "fixed text set by WhatsApp"),
        ({"name": "Order Update"}, "name", "Use lowercase letters"),
    ],
)
def test_metas_rules_are_form_errors_on_the_part_they_concern(admin_client, parts, field, message):
    channel = ChannelFactory()
    response = admin_client.post(reverse(ADD), form(channel, **parts))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in e for e in errors.get(field, [])), errors
    assert not MessageTemplate.objects.exists()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("QUICK_REPLY", "", "", "")], "Button 1 needs a text."),
        ([("QUICK_REPLY", "x" * 26, "", "")], "Button 1: the text can be at most 25"),
        (
            [
                ("QUICK_REPLY", "A", "", ""),
                ("URL", "Web", "https://a.example", ""),
                ("QUICK_REPLY", "B", "", ""),
            ],
            "Quick replies must stand together",
        ),
        (
            [("URL", f"Web {n}", "https://a.example", "") for n in range(3)],
            "At most 2 buttons of the kind URL",
        ),
        ([("URL", "Web", "ftp://a.example", "")], "Button 1 needs a web address"),
        (
            [("URL", "Web", "https://a.example/{{1}}/x", "https://a.example/1/x")],
            "can end with one variable",
        ),
        ([("URL", "Web", "https://a.example/{{1}}", "")], "give an example address"),
        ([("PHONE_NUMBER", "Call", "030 123", "")], "phone number in international form"),
        (
            [
                ("PHONE_NUMBER", "Call", "+4930123456", ""),
                ("PHONE_NUMBER", "Again", "+4930123457", ""),
            ],
            "At most 1 buttons of the kind PHONE_NUMBER",
        ),
        ([("COPY_CODE", "", "", "")], "Button 1 needs an example code."),
    ],
)
def test_button_rules(admin_client, rows, message):
    response = admin_client.post(reverse(ADD), form(ChannelFactory(), buttons=rows))
    assert response.status_code == 200
    assert any(message in e for e in response.context["adminform"].form.errors["buttons"])


def test_more_than_ten_buttons_or_eleven_quick_replies_are_refused():
    quick = [{"type": "QUICK_REPLY", "text": f"Q{n}"} for n in range(11)]
    components = template_services.components_from_parts(body="Hello there", buttons=quick)
    errors = template_services.check_components(components)["buttons"]
    assert "At most 10 buttons (there are 11)." in [str(e) for e in errors]
    assert "At most 10 buttons of the kind QUICK_REPLY." in [str(e) for e in errors]


def test_a_synced_template_is_shown_in_parts_and_read_only(admin_client):
    template = TemplateFactory(
        status=MessageTemplate.Status.APPROVED,
        components=[
            {"type": "BODY", "text": "Hi {{1}}, thanks.", "example": {"body_text": [["Dana"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]},
        ],
    )
    url = reverse("admin:channels_app_messagetemplate_change", args=[template.pk])
    page = admin_client.get(url).content.decode()
    assert "Hi {{1}}, thanks." in page and "QUICK_REPLY: Stop" in page
    assert 'name="body"' not in page and "_submit_for_review" not in page
