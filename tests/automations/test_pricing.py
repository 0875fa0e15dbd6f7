"""What messaging costs: the pricing block of each status webhook stored with its message, and the
report's figures equal to what a fixed set of status webhooks say (issue 19 item 5)."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.access import Role
from channels_app.models import MessageTemplate
from conversations.models import Message
from reports import costs
from tests.factories import (
    ConversationFactory,
    GrantFactory,
    MessageFactory,
    TemplateFactory,
    UserFactory,
)
from tests.whatsapp.conftest import post_signed

SYSTEM = "The system or the API"
PRICING = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp" / "pricing"
# wamid -> (author, template category or None for a free-form reply)
SENT = {
    "wamid.PRICE.MKT1": ("ana", "MARKETING"),
    "wamid.PRICE.MKT2": ("ana", "MARKETING"),
    "wamid.PRICE.UTL1": ("bo", "UTILITY"),
    "wamid.PRICE.UTL2": ("bo", "UTILITY"),
    "wamid.PRICE.AUTH1": (None, "AUTHENTICATION"),
    "wamid.PRICE.SVC1": ("ana", None),
    "wamid.PRICE.SVC2": ("bo", None),
    "wamid.PRICE.SVC3": ("bo", None),
    "wamid.PRICE.FAIL1": ("ana", "MARKETING"),
}


def _fixture_files():
    return sorted(PRICING.glob("*.json"))


def _expected() -> dict:
    """From the fixture files alone: each message's last pricing block, billable or free."""
    last = {}
    for path in _fixture_files():
        for entry in json.loads(path.read_text())["entry"]:
            for change in entry["changes"]:
                for status in change["value"].get("statuses", []):
                    if "pricing" in status:
                        last[status["id"]] = status["pricing"]
    expected = {"billable": 0, "free": 0, "category": {}, "agent": {}, "template": {}}
    for wamid, pricing in last.items():
        billable = pricing.get("billable", pricing.get("type") == "regular")
        key = "billable" if billable else "free"
        expected[key] += 1
        author, category = SENT[wamid]
        for group, name in (("category", pricing["category"]), ("agent", author or SYSTEM),
                            ("template", category)):
            cell = expected[group].setdefault(name, {"billable": 0, "free": 0})
            cell[key] += 1
    return expected


@pytest.fixture
def sent(channel):
    agents = {name: UserFactory(username=name) for name in ("ana", "bo")}
    for user in agents.values():
        GrantFactory(channel=channel, user=user, role=Role.SUPERVISOR)
    templates = {
        category: TemplateFactory(channel=channel, name=category.lower(), category=category)
        for category in MessageTemplate.Category.values
    }
    conversation = ConversationFactory(channel=channel)
    for wamid, (author, category) in SENT.items():
        MessageFactory(
            conversation=conversation, direction=Message.Direction.OUTBOUND,
            provider_message_id=wamid, author=agents.get(author),
            type="template" if category else "text",
            template=templates.get(category), delivery=Message.Delivery.SENT,
        )
    return agents


def _post_all(client, capture):
    for path in _fixture_files():
        with capture(execute=True):
            assert post_signed(client, path.read_bytes()).status_code == 200


def test_each_status_keeps_its_pricing_on_the_message(client, channel, sent,
                                                      django_capture_on_commit_callbacks):
    _post_all(client, django_capture_on_commit_callbacks)
    mkt = Message.objects.get(provider_message_id="wamid.PRICE.MKT1")
    assert mkt.payload["pricing"] == {
        "billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing",
    }
    assert "pricing" not in Message.objects.get(provider_message_id="wamid.PRICE.FAIL1").payload


def test_the_cost_figures_match_the_pricing_blocks_of_the_fixtures(
    client, channel, sent, django_capture_on_commit_callbacks, settings
):
    settings.MESSAGING_RATES = {"marketing": "0.0600", "utility": "0.0200",
                                "authentication": "0.0300"}
    _post_all(client, django_capture_on_commit_callbacks)
    expected = _expected()
    now = timezone.now()
    figures = costs.messaging_costs(channel_ids=[channel.pk], start=now - timedelta(days=1),
                                    end=now + timedelta(days=1))
    assert (figures.billable, figures.free) == (expected["billable"], expected["free"]) == (4, 4)

    def table(rows):
        return {r.name: {"billable": r.billable, "free": r.free} for r in rows}

    assert {k.lower(): v for k, v in table(figures.by_category).items()} == expected["category"]
    names = {name: user.get_full_name() or name for name, user in sent.items()}
    assert table(figures.by_agent) == {names.get(k, k): v for k, v in expected["agent"].items()}
    by_template = {("none" if k is None else k.lower()): v
                   for k, v in expected["template"].items()}
    named = {k.split(" ")[0]: v for k, v in table(figures.by_template).items()
             if not k.startswith("Free-form")}  # fmt: skip
    assert named == {k: v for k, v in by_template.items() if k != "none"}
    assert table(figures.by_channel) == {channel.display_name: {"billable": 4, "free": 4}}
    # 2 marketing x 0.06 + 1 utility x 0.02 + 1 authentication x 0.03
    assert str(figures.cost) == "0.1700"


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_reports_page_shows_the_costs(client, channel, sent, language,
                                          django_capture_on_commit_callbacks):
    _post_all(client, django_capture_on_commit_callbacks)
    client.force_login(sent["ana"])
    page = client.get(reverse("reports:index"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert 'id="costs-category"' in page
    assert "4" in page


def test_the_template_picker_shows_each_templates_category(client, channel, sent):
    from conversations.models import Conversation
    from tests.factories import days_ago

    conversation = ConversationFactory(channel=channel, contact__wa_id="15555550999")
    Conversation.objects.filter(pk=conversation.pk).update(last_customer_message_at=days_ago(2))
    client.force_login(sent["ana"])
    page = client.get(reverse("conversations:detail", args=[conversation.pk])).content.decode()
    assert 'class="template-category"' in page
    assert "Marketing" in page and "Utility" in page
