"""A whole onboarding walked through the admin against the WhatsApp emulator (a real HTTP
server), plus the code rules the provider is asked about: wrong, expired, too many attempts."""

import io
import logging
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from channels_app import template_services
from channels_app.models import Channel, MessageTemplate
from onboarding import services
from onboarding.models import CodeRequest, Onboarding, OnboardingStep
from tests.factories import AdminUserFactory, OnboardingFactory
from tests.onboarding.conftest import complete_through, snapshot, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WABA_ID = "104455667700001"
TOKEN = "operator-system-user-token"
PIN = "482913"
BODY = [
    {
        "type": "BODY",
        "text": "Hi {{1}}, order {{2}} shipped.",
        "example": {"body_text": [["Dana", "4471"]]},
    }
]


@pytest.fixture
def operator_account(emulator):
    """The operator's WhatsApp Business account at Meta, known by its token (it already has
    another number, as a real operator's account would)."""
    emulator.add_number(phone_number_id="109876543200999", waba_id=WABA_ID, token=TOKEN)
    return emulator


def post(client, onboarding, action, data=None, **extra):
    url = reverse(f"admin:onboarding_onboarding_{action}", args=[onboarding.pk])
    response = client.post(url, data or {}, follow=True, **extra)
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]][-1]


def state(onboarding, key):
    return OnboardingStep.objects.get(onboarding=onboarding, key=key).state


def png_logo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (192, 192), "#2e7d32").save(buffer, "PNG")
    return buffer.getvalue()


def every_stored_text() -> str:
    """Every value of every row the onboarding touches, as one string to search in."""
    rows = []
    for model in (Onboarding, OnboardingStep, CodeRequest, LogEntry, Channel, MessageTemplate):
        rows.extend(str(values) for values in model.objects.values_list())
    return "\n".join(rows)


def test_full_onboarding_from_terms_to_an_active_channel_with_approved_templates(
    client, operator_account, caplog
):
    emulator = operator_account
    caplog.set_level(logging.DEBUG)
    admin = AdminUserFactory(username="olivia_operator")
    client.force_login(admin)

    # Details submitted in the admin's add form (with the operator's token, write-only).
    response = client.post(
        reverse("admin:onboarding_onboarding_add"),
        {
            "phone_number": "+49 151 2345 0001",
            "code_method": "SMS",
            "business_manager_id": "2329417887457253",
            "display_name": "Acme Outdoor Supply",
            "access_token": TOKEN,
        },
    )
    assert response.status_code == 302
    onboarding = Onboarding.objects.get()

    # 1-2: agreement and terms, details confirmed.
    post(
        client,
        onboarding,
        "record_terms",
        {"agreement_signed_by": "Dana Reyes", "terms_accepted_by": "Dana Reyes"},
    )
    post(client, onboarding, "advance_step", {"key": "details"})

    # 3: the number is added to the operator's account at Meta.
    message = post(client, onboarding, "add_number", {"waba_id": WABA_ID})
    assert message.startswith("Number added")
    onboarding.refresh_from_db()
    pnid = onboarding.phone_number_id
    assert pnid in emulator.numbers
    assert emulator.numbers[pnid].verified_name == "Acme Outdoor Supply"
    assert emulator.numbers[pnid].code_verification_status == "NOT_VERIFIED"

    # 4-5: the customer approves the request and completes business verification.
    post(client, onboarding, "advance_step", {"key": "request_approved"})
    post(client, onboarding, "mark_waiting", {"key": "business_verified", "note": "Meta reviews"})
    post(client, onboarding, "advance_step", {"key": "business_verified"})

    # 6: the code comes by SMS; a wrong one is refused, the right one verifies the number.
    assert "valid 10 minutes" in post(client, onboarding, "request_code", {"method": "SMS"})
    assert state(onboarding, "number_verified") == "waiting"
    code = emulator.last_code(pnid)
    wrong = "000000" if code != "000000" else "111111"
    assert "not correct" in post(client, onboarding, "verify_code", {"code": wrong})
    assert state(onboarding, "number_verified") == "waiting"
    assert post(client, onboarding, "verify_code", {"code": code}).startswith(
        "Phone number verified"
    )
    assert emulator.numbers[pnid].code_verification_status == "VERIFIED"

    # 7: registered with the two-step PIN: the channel appears with the article's defaults.
    assert "is active" in post(client, onboarding, "register", {"pin": PIN})
    onboarding.refresh_from_db()
    channel = onboarding.channel
    assert (channel.display_name, channel.phone_number_id, channel.waba_id) == (
        "Acme Outdoor Supply",
        pnid,
        WABA_ID,
    )
    assert channel.is_active and channel.kind == Channel.Kind.WHATSAPP
    assert (
        channel.auto_resolve_new_after == channel.auto_resolve_pending_after == timedelta(days=30)
    )
    assert channel.access_token == TOKEN and onboarding.access_token == ""
    assert emulator.numbers[pnid].registered

    # 8: profile and logo (multipart upload, checked before it leaves).
    message = post(
        client,
        onboarding,
        "set_profile",
        {
            "about": "Outdoor gear since 1998",
            "email": "help@acme.example.com",
            "website_1": "https://acme.example.com",
            "vertical": "RETAIL",
            "logo": SimpleUploadedFile("logo.png", png_logo(), content_type="image/png"),
        },
    )
    assert message.startswith("Business profile and logo set")
    profile = emulator.numbers[pnid].profile
    assert profile["about"] == "Outdoor gear since 1998" and profile["profile_picture_url"]

    # 9: the badge is requested, Meta grants it, the refresh sees it.
    post(
        client,
        onboarding,
        "request_badge",
        {"website_url": "https://acme.example.com", "country": "de", "language": "German"},
    )
    assert emulator.numbers[pnid].oba_request["primary_country_of_operation"] == "DE"
    assert post(client, onboarding, "refresh_badge") == "Meta has not granted the badge yet."
    emulator.numbers[pnid].is_official_business_account = True  # Meta's decision
    assert post(client, onboarding, "refresh_badge").startswith("Badge granted")

    # 10: a draft written for the channel is submitted and approved by Meta's review.
    template_services.save_draft(
        MessageTemplate(channel=channel, name="order_shipped", language="en_US", components=BODY)
    )
    assert post(client, onboarding, "submit_templates") == "1 template(s) submitted for review."
    assert state(onboarding, "templates") == "waiting"

    def approved():
        post(client, onboarding, "refresh_templates")
        return state(onboarding, "templates") == "done"

    assert wait_for(approved, timeout=10, interval=0.2)
    onboarding.refresh_from_db()
    assert onboarding.completed_at is not None
    assert set(onboarding.steps.values_list("state", flat=True)) == {"done"}
    assert channel.templates.get().status == MessageTemplate.Status.APPROVED
    assert Channel.objects.filter(is_active=True, pk=channel.pk).exists()
    assert LogEntry.objects.filter(object_id=str(onboarding.pk)).count() >= 14

    # The code and the PIN were never logged nor stored in clear.
    for secret in (code, PIN):
        for record in caplog.records:
            assert secret not in record.getMessage()
        assert secret not in every_stored_text()
    assert TOKEN not in caplog.text


@pytest.fixture
def at_code_step(operator_account):
    onboarding = complete_through(OnboardingFactory(access_token=TOKEN), "details")
    services.add_number(onboarding, waba_id=WABA_ID, actor=None)
    complete_through(onboarding, "business_verified")
    return onboarding


def test_wrong_code_is_refused_and_only_the_attempt_is_counted(at_code_step, operator_account):
    onboarding = at_code_step
    services.request_code(onboarding, actor=None)
    code = operator_account.last_code(onboarding.phone_number_id)
    before = snapshot(onboarding)
    with pytest.raises(services.WrongCode, match="not correct"):
        services.verify_code(
            onboarding, code="000000" if code != "000000" else "111111", actor=None
        )
    assert snapshot(onboarding) == before
    assert onboarding.code_requests.get().attempts == 1


def test_expired_code_is_refused_by_the_desk_after_10_minutes(at_code_step, operator_account):
    onboarding = at_code_step
    request = services.request_code(onboarding, actor=None)
    code = operator_account.last_code(onboarding.phone_number_id)
    before = snapshot(onboarding)
    with pytest.raises(services.CodeExpired, match="valid 10 minutes"):
        services.verify_code(
            onboarding, code=code, actor=None, now=request.requested_at + timedelta(minutes=11)
        )
    assert snapshot(onboarding) == before
    assert onboarding.code_requests.get().attempts == 0
    # The same code still works inside its 10 minutes: the refusal above never reached Meta.
    services.verify_code(
        onboarding, code=code, actor=None, now=request.requested_at + timedelta(minutes=10)
    )
    assert state(onboarding, "number_verified") == "done"


def test_sixth_attempt_is_refused_before_the_api(at_code_step, operator_account):
    onboarding = at_code_step
    services.request_code(onboarding, actor=None)
    pnid = onboarding.phone_number_id
    code = operator_account.last_code(pnid)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(services.WrongCode):
            services.verify_code(onboarding, code=wrong, actor=None)
    before = snapshot(onboarding)
    with pytest.raises(services.TooManyAttempts, match="Request a new code"):
        services.verify_code(onboarding, code=code, actor=None)
    assert snapshot(onboarding) == before
    assert operator_account.numbers[pnid].code_attempts == 5  # Meta was not asked a 6th time
    # A new code starts a fresh count.
    services.request_code(onboarding, actor=None, now=timezone.now())
    services.verify_code(onboarding, code=operator_account.last_code(pnid), actor=None)
    assert state(onboarding, "number_verified") == "done"


def test_provider_refusal_is_a_clear_error_and_changes_nothing(operator_account, client):
    onboarding = complete_through(OnboardingFactory(access_token="not-a-valid-token"), "details")
    before = snapshot(onboarding)
    with pytest.raises(services.ProviderRefused, match="refused the access token"):
        services.add_number(onboarding, waba_id=WABA_ID, actor=None)
    assert snapshot(onboarding) == before


def test_oversized_logo_is_refused_before_upload(at_code_step, operator_account, client):
    onboarding = complete_through(at_code_step, "activated")
    Channel.objects.create(
        display_name="x", phone_number_id=onboarding.phone_number_id, access_token=TOKEN
    )
    admin = AdminUserFactory(username="lou_logo")
    client.force_login(admin)
    big = SimpleUploadedFile("logo.png", png_logo() + b"\0" * (5 * 2**20), "image/png")
    media_before = len(operator_account.media)
    assert post(client, onboarding, "set_profile", {"about": "Hi", "logo": big}) == (
        "The logo is larger than 5 MB."
    )
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    fake = SimpleUploadedFile("logo.png", gif.getvalue(), "image/png")
    assert post(client, onboarding, "set_profile", {"about": "Hi", "logo": fake}) == (
        "The logo must be a JPEG or PNG image."
    )
    assert len(operator_account.media) == media_before
    assert state(onboarding, "profile") == "todo"


def test_register_activates_an_existing_channel_with_the_same_number(
    at_code_step, operator_account
):
    onboarding = at_code_step
    existing = Channel.objects.create(
        display_name="Acme (old import)",
        phone_number_id=onboarding.phone_number_id,
        is_active=False,
    )
    services.request_code(onboarding, actor=None)
    code = operator_account.last_code(onboarding.phone_number_id)
    services.verify_code(onboarding, code=code, actor=None)
    channel = services.register_number(onboarding, pin=PIN, actor=None)
    existing.refresh_from_db()
    onboarding.refresh_from_db()
    assert channel.pk == existing.pk == onboarding.channel_id
    assert existing.is_active and existing.display_name == "Acme (old import)"
    assert existing.access_token == TOKEN and existing.waba_id == WABA_ID
    assert Channel.objects.count() == 1


def test_register_before_the_code_is_verified_is_refused_without_calling_meta(
    at_code_step, operator_account
):
    onboarding = at_code_step
    before = snapshot(onboarding)
    with pytest.raises(services.StepOutOfOrder, match="Step 7 cannot be done before: 6"):
        services.register_number(onboarding, pin=PIN, actor=None)
    assert snapshot(onboarding) == before
    assert not operator_account.numbers[onboarding.phone_number_id].register_calls
    assert not Channel.objects.filter(phone_number_id=onboarding.phone_number_id).exists()


def test_two_admins_typing_the_last_attempt_at_once_reach_meta_once(
    at_code_step, operator_account, on_postgres
):
    import threading

    from django.db import connection

    onboarding = at_code_step
    services.request_code(onboarding, actor=None)
    pnid = onboarding.phone_number_id
    code = operator_account.last_code(pnid)
    wrong = "000000" if code != "000000" else "111111"
    onboarding.code_requests.update(attempts=4)
    outcomes, barrier = [], threading.Barrier(2)

    def attempt():
        barrier.wait()
        try:
            services.verify_code(Onboarding.objects.get(pk=onboarding.pk), code=wrong, actor=None)
        except services.OnboardingError as error:
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["TooManyAttempts", "WrongCode"]
    assert onboarding.code_requests.get().attempts == 5
    assert operator_account.numbers[pnid].code_attempts == 1
