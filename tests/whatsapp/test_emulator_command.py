"""manage.py whatsapp_emulator: inject into a running emulator; the customer phone page."""

import httpx
import pytest
from django.core.management import CommandError, call_command

from conversations.models import Message
from tests.whatsapp.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_inject_command_delivers_a_customer_message_to_the_app(emulator, wa_channel, capsys):
    call_command(
        "whatsapp_emulator",
        "inject",
        "--url",
        emulator.base_url,
        "--phone-number-id",
        wa_channel.phone_number_id,
        "--from",
        "15555550777",
        "--text",
        "Hello from the command line",
    )
    assert "injected wamid." in capsys.readouterr().out
    assert wait_for(lambda: Message.objects.filter(body="Hello from the command line").exists())


def test_inject_command_reports_an_unreachable_emulator():
    with pytest.raises(CommandError, match="not reachable"):
        call_command("whatsapp_emulator", "inject", "--url", "http://127.0.0.1:9", "--text", "x")


def test_customer_phone_page_and_its_json_api(emulator, wa_channel):
    page = httpx.get(f"{emulator.base_url}/_emulator/phone")
    assert page.status_code == 200 and "Customer phone" in page.text
    response = httpx.post(
        f"{emulator.base_url}/_emulator/api/inject",
        json={
            "phone_number_id": wa_channel.phone_number_id,
            "from": "15555550888",
            "name": "Lee",
            "text": "typed on the phone page",
        },
    )
    assert response.status_code == 200
    chat = httpx.get(
        f"{emulator.base_url}/_emulator/api/chat",
        params={"phone_number_id": wa_channel.phone_number_id, "wa_id": "15555550888"},
    ).json()
    assert [m["text"] for m in chat] == ["typed on the phone page"]
    assert wait_for(lambda: Message.objects.filter(body="typed on the phone page").exists())
