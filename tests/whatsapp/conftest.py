"""The WhatsApp emulator as a real HTTP server for the suite, plus signed-webhook helpers.

One emulator serves the whole session on a free port; it delivers its webhooks to pytest-django's
``live_server``. The ``emulator`` fixture points WHATSAPP_GRAPH_URL at it for one test, resets its
switches, and waits at the end until every webhook it scheduled has landed.
"""

import json
import time
from pathlib import Path

import pytest

# Registers the template admin before the URLconf is first loaded, in case channels_app/admin.py
# (which imports it at its end) is not there yet; importing it twice is harmless.
import channels_app.admin_templates  # noqa: F401
from channels_app.whatsapp.webhooks import sign
from devtools.whatsapp_emulator import Emulator, EmulatorConfig

APP_SECRET = "test-app-secret"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"
WEBHOOK_PATH = "/webhooks/whatsapp/"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def post_signed(client, payload, *, secret=APP_SECRET, signature=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {}
    if signature is not False:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature or sign(body, secret)
    return client.post(WEBHOOK_PATH, data=body, content_type="application/json", **headers)


def wait_for(condition, *, timeout=8.0, interval=0.03):
    """Poll until ``condition()`` is truthy (webhooks arrive on another thread); return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture(autouse=True)
def _app_secret(settings):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = "test-verify-token"


@pytest.fixture(scope="session")
def _plain_http_live_server():
    """The live server builds its middleware once, at start: it must start without the HTTPS
    redirect that production settings turn on (the function-scoped settings fixture is too late).
    """
    from django.conf import settings

    saved = settings.SECURE_SSL_REDIRECT
    settings.SECURE_SSL_REDIRECT = False
    yield
    settings.SECURE_SSL_REDIRECT = saved


@pytest.fixture(scope="session")
def emulator_server(_plain_http_live_server, live_server):
    emulator = Emulator(
        EmulatorConfig(
            app_secret=APP_SECRET,
            webhook_url=live_server.url + WEBHOOK_PATH,
            status_delay=0.05,
            template_approval_delay=0.1,
            webhook_retry_delays=(0.05, 0.1, 0.2),
            expose_codes=True,
            code_ttl=600,
        )
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(emulator_server, settings):
    settings.WHATSAPP_GRAPH_URL = emulator_server.graph_url
    # The emulator serves media over plain http on its own port: listed like a development host.
    settings.WHATSAPP_MEDIA_HOSTS = [emulator_server.base_url]
    settings.WHATSAPP_HTTP_TIMEOUT = 5.0
    emulator_server.reset_switches()
    yield emulator_server
    emulator_server.idle(timeout=10)
    emulator_server.reset_switches()
    emulator_server.reset_clock()


@pytest.fixture
def wa_channel(emulator, db):
    """A channel known to the emulator (its number and token registered there)."""
    from tests.factories import ChannelFactory

    channel = ChannelFactory()
    emulator.add_number(
        phone_number_id=channel.phone_number_id,
        waba_id=channel.waba_id,
        display_phone_number=channel.display_phone_number,
        verified_name=channel.verified_name,
        token=channel.access_token,
    )
    return channel


def queue_reply(conversation, body="Thanks, on its way.", **kwargs):
    """An agent's reply as the inbox stores it: outbound, queued, not yet sent."""
    from django.utils import timezone

    from conversations.models import Message

    return Message.objects.create(
        conversation=conversation,
        channel=conversation.channel,
        direction=Message.Direction.OUTBOUND,
        type=kwargs.pop("type", Message.Type.TEXT),
        body=body,
        delivery=Message.Delivery.QUEUED,
        provider_message_id=None,
        created_at=kwargs.pop("created_at", None) or timezone.now(),
        **kwargs,
    )


@pytest.fixture
def eager_tasks():
    """Tasks enqueued by the code under test run at once, in this thread (retries included)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
