"""Helpers of the automations, opt-out, health and pricing tests: a signed inbound text webhook
built from the text_reply fixture, with its own body and wamid."""

import itertools
import time

import pytest

from tests.factories import ChannelFactory
from tests.whatsapp.conftest import (  # noqa: F401 - the emulator's fixtures, for this folder too
    APP_SECRET,
    _plain_http_live_server,
    emulator,
    emulator_server,
    fixture_json,
    post_signed,
    wa_channel,
)

PNID = "109876543210987"
WABA = "104455667788990"
CUSTOMER = "15555550123"
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _app_secret(settings):
    settings.WHATSAPP_APP_SECRET = APP_SECRET


@pytest.fixture(autouse=True)
def _eager_automation_tasks():
    """Rules matched in the request fire in a Celery task: here it runs at once, in this thread
    (the task's own code path), instead of waiting in the unconsumed test broker."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def channel(db):
    return ChannelFactory(
        phone_number_id=PNID, waba_id=WABA, display_phone_number="+1 555-010-0234"
    )


def text_payload(body: str, *, wa_id: str = CUSTOMER, wamid: str | None = None) -> dict:
    payload = fixture_json("text_reply")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("context", None)
    message["text"]["body"] = body
    message["from"] = wa_id
    message["timestamp"] = str(int(time.time()))  # inside the 24-hour window
    message["id"] = wamid or f"wamid.AUTOMATION{next(_ids):08d}"
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = wa_id
    return payload


def customer_writes(client, body: str, capture, **kwargs):
    """POST a signed inbound text webhook, running the after-commit work (announcements) too."""
    with capture(execute=True):
        response = post_signed(client, text_payload(body, **kwargs))
    assert response.status_code == 200, response.content
    return response
