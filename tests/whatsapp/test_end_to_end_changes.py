"""Issue 21 against the emulator as a real HTTP server: a customer's edit and deletion arrive as
signed webhooks (the emulator's inject with Meta's edit/revoke objects) and change the message
the customer sent before."""

import pytest

from conversations.models import Message
from tests.whatsapp.conftest import wait_for
from tests.whatsapp.test_end_to_end import CUSTOMER, customer_writes

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_edit_then_deletion_arrive_through_signed_webhooks(emulator, wa_channel):
    original = customer_writes(emulator, wa_channel, text="The tent is 2 m wide")
    number = wa_channel.phone_number_id
    emulator.inject(
        number,
        wa_id=CUSTOMER,
        type="edit",
        message={
            "edit": {
                "original_message_id": original.provider_message_id,
                "message": {"type": "text", "text": {"body": "The tent is 3 m wide"}},
            }
        },
    )
    assert wait_for(
        lambda: Message.objects.filter(pk=original.pk, body="The tent is 3 m wide").exists()
    )
    emulator.inject(
        number,
        wa_id=CUSTOMER,
        type="revoke",
        message={"revoke": {"original_message_id": original.provider_message_id}},
    )
    assert wait_for(
        lambda: Message.objects.filter(pk=original.pk, revoked_at__isnull=False).exists()
    )
    original.refresh_from_db()
    assert [v["body"] for v in original.payload["versions"]] == [
        "The tent is 2 m wide",
        "The tent is 3 m wide",
    ]
    assert Message.objects.filter(channel=wa_channel).count() == 1


def test_a_reply_from_the_whatsapp_business_app_arrives_as_an_echo_and_is_never_sent(
    emulator, wa_channel
):
    customer_writes(emulator, wa_channel, text="Is the shop open on Sunday?")
    wamid = emulator.echo_from_app(
        wa_channel.phone_number_id, to=CUSTOMER, text="Yes, from 10 to 4."
    )
    echo = wait_for(lambda: Message.objects.filter(provider_message_id=wamid).first())
    assert echo is not None, "the echo webhook never arrived"
    assert echo.direction == Message.Direction.OUTBOUND
    assert echo.via == Message.Via.BUSINESS_APP
    assert echo.delivery == Message.Delivery.SENT
    assert echo.conversation.first_response_at is not None
    # Nothing went back to the emulator: the desk never sends an echo.
    assert [m["direction"] for m in emulator.chat(wa_channel.phone_number_id, CUSTOMER)] == [
        "in",
        "out",
    ]
