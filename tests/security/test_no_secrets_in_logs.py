"""No secret reaches a log line: the flows that handle one run with every logger at DEBUG, and
no captured record (message, arguments, traceback) may contain the WhatsApp access token, the
app secret, the verify token, a password, a verification code or PIN, or the SECRET_KEY.

The emulator is the real HTTP server of tests/whatsapp, so what httpx and the live server log
about each request is captured too (query strings included)."""

import logging
import re

import pytest
from django.urls import reverse

from conversations.models import Message
from conversations.services import outbound
from onboarding import services as onboarding_services
from tests.factories import (
    AdminUserFactory,
    ChannelFactory,
    ConversationFactory,
    OnboardingFactory,
    UserFactory,
)
from tests.onboarding.conftest import complete_through
from tests.whatsapp.conftest import APP_SECRET, fixture_bytes, post_signed, queue_reply, wait_for

VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "EAAG-security-suite-access-token-7f3c9a"
OPERATOR_TOKEN = "EAAG-security-suite-operator-token-2b81d4"
PASSWORD = "correct-horse-battery"  # tests/factories.UserFactory's
PIN = "604718"
SECRET_KEY = "security-suite-secret-key-which-must-never-be-logged-8d2e"
WEBHOOK_PNID = "109876543210987"  # the number of tests/fixtures/whatsapp/*.json
FORMATTER = logging.Formatter("%(levelname)s %(name)s %(message)s")


@pytest.fixture
def every_log_line(caplog, settings):
    """All records of the test, formatted with their tracebacks, from every logger at DEBUG."""
    settings.SECRET_KEY = SECRET_KEY
    # The emulator signs its webhooks with tests/whatsapp's app secret.
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = VERIFY_TOKEN
    caplog.set_level(logging.DEBUG)
    quiet = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and logger.level > logging.DEBUG
    }
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG)

    def lines():
        return [FORMATTER.format(record) for record in caplog.records]

    yield lines
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


def assert_clean(lines, **secrets):
    assert lines, "nothing was logged at all: the capture is not working"
    leaks = []
    for what, secret in secrets.items():
        # Codes are digits: match them as whole numbers, not inside a longer id.
        pattern = rf"(?<!\d){re.escape(secret)}(?!\d)" if secret.isdigit() else re.escape(secret)
        leaks += [f"{what}: {line}" for line in lines if re.search(pattern, line)]
    assert not leaks, "secrets in the log:\n" + "\n".join(leaks)


@pytest.mark.django_db
def test_webhook_signature_and_handshake_log_no_secret(client, every_log_line, settings):
    ChannelFactory(phone_number_id=WEBHOOK_PNID, access_token=ACCESS_TOKEN)
    assert post_signed(client, fixture_bytes("text_reply")).status_code == 200
    assert post_signed(client, fixture_bytes("text_reply"), secret="wrong").status_code == 403
    handshake = {"hub.mode": "subscribe", "hub.challenge": "31337"}
    assert client.get("/webhooks/whatsapp/", {**handshake, "hub.verify_token": VERIFY_TOKEN})
    wrong = client.get("/webhooks/whatsapp/", {**handshake, "hub.verify_token": "guessed-token"})
    assert wrong.status_code == 403
    assert_clean(
        every_log_line(),
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        guessed_token="guessed-token",
        access_token=ACCESS_TOKEN,
        secret_key=SECRET_KEY,
    )


@pytest.mark.django_db(transaction=True)
def test_sending_through_the_emulator_logs_no_token(emulator, every_log_line):
    channel = ChannelFactory(access_token=ACCESS_TOKEN)
    emulator.add_number(
        phone_number_id=channel.phone_number_id,
        waba_id=channel.waba_id,
        display_phone_number=channel.display_phone_number,
        verified_name=channel.verified_name,
        token=ACCESS_TOKEN,
    )
    emulator.inject(channel.phone_number_id, wa_id="15555550123", name="Dana", text="Hello?")
    inbound = wait_for(lambda: Message.objects.filter(channel=channel, body="Hello?").first())
    assert inbound is not None, "the signed webhook never arrived"
    reply = queue_reply(inbound.conversation, "On its way.")
    assert outbound.dispatch(reply.pk).result == "sent"
    assert wait_for(lambda: Message.objects.get(pk=reply.pk).delivery == Message.Delivery.READ)
    # A refused send (wrong token) goes through the client's error logging as well.
    bad = ChannelFactory(access_token="EAAG-revoked-token-0c5e")
    emulator.add_number(
        phone_number_id=bad.phone_number_id, waba_id=bad.waba_id, token="another-token"
    )
    refused = queue_reply(ConversationFactory(channel=bad), "Are you there?")
    assert outbound.dispatch(refused.pk).result != "sent"
    assert_clean(
        every_log_line(),
        access_token=ACCESS_TOKEN,
        revoked_token="EAAG-revoked-token-0c5e",
        app_secret=APP_SECRET,
        secret_key=SECRET_KEY,
    )


@pytest.mark.django_db(transaction=True)
def test_phone_number_verification_logs_no_code_pin_or_token(
    client, emulator, every_log_line
):
    waba_id = "104455667700777"
    emulator.add_number(phone_number_id="109876543200777", waba_id=waba_id, token=OPERATOR_TOKEN)
    onboarding = complete_through(OnboardingFactory(access_token=OPERATOR_TOKEN), "details")
    onboarding_services.add_number(onboarding, waba_id=waba_id, actor=None)
    complete_through(onboarding, "business_verified")
    client.force_login(AdminUserFactory(username="oscar_operator"))

    def act(action, data):
        url = reverse(f"admin:onboarding_onboarding_{action}", args=[onboarding.pk])
        response = client.post(url, data, follow=True)
        assert response.status_code == 200
        return str(list(response.context["messages"])[-1])

    assert "valid 10 minutes" in act("request_code", {"method": "SMS"})
    code = emulator.last_code(onboarding.phone_number_id)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    assert "not correct" in act("verify_code", {"code": wrong})
    assert act("verify_code", {"code": code}).startswith("Phone number verified")
    assert "is active" in act("register", {"pin": PIN})
    assert_clean(
        every_log_line(),
        code=code,
        wrong_code=wrong,
        pin=PIN,
        operator_token=OPERATOR_TOKEN,
        secret_key=SECRET_KEY,
    )


@pytest.mark.django_db
def test_logging_in_logs_no_password(client, every_log_line):
    UserFactory(username="lena_login")
    AdminUserFactory(username="adam_admin")
    assert client.post(reverse("login"), {"username": "lena_login", "password": "x" + PASSWORD})
    ok = client.post(reverse("login"), {"username": "lena_login", "password": PASSWORD})
    assert ok.status_code == 302 and ok["Location"] == reverse("conversations:inbox")
    client.post(reverse("logout"))
    admin_ok = client.post(reverse("admin:login"), {"username": "adam_admin", "password": PASSWORD})
    assert admin_ok.status_code == 302
    # Django logs nothing for a login; one line of our own proves the capture is listening.
    logging.getLogger("tests.security").info("logged in as adam_admin")
    assert_clean(
        every_log_line(), password=PASSWORD, wrong_password="x" + PASSWORD, secret_key=SECRET_KEY
    )


def test_the_web_servers_access_log_leaves_out_query_strings():
    """Meta's handshake puts the verify token in the URL: gunicorn must log the path only."""
    import runpy
    from pathlib import Path

    conf = runpy.run_path(str(Path(__file__).resolve().parents[2] / "config" / "gunicorn.py"))
    fmt = conf["access_log_format"]
    assert "%(U)s" in fmt
    for with_query in ("%(r)s", "%(q)s", "%({raw_uri}e)s"):
        assert with_query not in fmt
