"""Channel health through the emulator as a real HTTP server: a quality webhook it sends lands on
the health panel, and a token it revokes is recorded as stopped working (issue 19 item 4)."""

import json
import urllib.request

import pytest

from channels_app.health_models import ChannelHealth, HealthEvent
from conversations.services import outbound
from tests.factories import ConversationFactory
from tests.whatsapp.conftest import queue_reply, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _control(emulator, path, data):
    request = urllib.request.Request(  # noqa: S310 - the emulator on loopback
        emulator.base_url + path, data=json.dumps(data).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


def test_the_emulators_quality_webhook_reaches_the_health_panel(emulator, wa_channel):
    _control(emulator, "/_emulator/api/health",
             {"phone_number_id": wa_channel.phone_number_id,
              "field": "phone_number_quality_update"})  # fmt: skip
    state = wait_for(lambda: ChannelHealth.objects.filter(channel=wa_channel).first())
    assert state is not None
    assert (state.quality_rating, state.messaging_limit) == ("RED", "TIER_1K")


def test_a_revoked_token_is_recorded_and_clears_once_calls_work_again(emulator, wa_channel):
    conversation = ConversationFactory(channel=wa_channel)
    assert _control(emulator, "/_emulator/api/revoke-token",
                    {"token": wa_channel.access_token})["revoked"]  # fmt: skip
    message = queue_reply(conversation)
    outcome = outbound.dispatch(message.pk)
    assert outcome.result == "failed"
    state = ChannelHealth.objects.get(channel=wa_channel)
    assert state.token_failed_at is not None
    assert HealthEvent.objects.filter(channel=wa_channel, kind="token").count() == 1

    emulator.tokens.add(wa_channel.access_token)  # the admin renewed it at Meta
    assert outbound.dispatch(queue_reply(conversation).pk).result == "sent"
    state.refresh_from_db()
    assert state.token_failed_at is None
