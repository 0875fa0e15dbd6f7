"""The Cloud API client against the emulator: typed errors, paging, media, onboarding calls."""

import socket

import pytest

from channels_app.whatsapp.client import WhatsAppClient
from channels_app.whatsapp.errors import (
    InvalidToken,
    RateLimited,
    ServiceUnavailable,
    TemplateNotApproved,
    TransportError,
    WhatsAppError,
    WindowClosed,
    error_for,
)

PNID = "109876543219001"
WABA = "104455667799001"
TOKEN = "client-test-token"


@pytest.fixture
def api(emulator):
    if PNID not in emulator.numbers:
        emulator.add_number(phone_number_id=PNID, waba_id=WABA, token=TOKEN)
    number = emulator.numbers[PNID]
    number.code_requests.clear()
    number.register_calls.clear()
    return WhatsAppClient(TOKEN)


def test_token_never_appears_in_repr_or_errors(api, emulator):
    assert TOKEN not in repr(api)
    with pytest.raises(InvalidToken) as info:
        WhatsAppClient("wrong-token").send_text(PNID, to="15555550123", body="hi")
    assert "wrong-token" not in repr(info.value) + str(info.value)
    assert info.value.code == 190 and not info.value.transient
    assert "access token is invalid or expired" in info.value.user_message


def test_base_url_is_read_at_call_time(settings, api, emulator):
    settings.WHATSAPP_GRAPH_URL = "http://127.0.0.1:9/v23.0"
    assert api.base_url == "http://127.0.0.1:9/v23.0"


def test_rate_limit_and_outage_are_transient_typed_errors(api, emulator):
    emulator.http_errors(429, 1)
    emulator.http_errors(503, 1)
    with pytest.raises(RateLimited) as limited:
        api.send_text(PNID, to="15555550123", body="hi")
    with pytest.raises(ServiceUnavailable) as down:
        api.send_text(PNID, to="15555550123", body="hi")
    assert limited.value.transient and down.value.transient


def test_throughput_limit_answers_130429(api, emulator):
    emulator.config.throughput_mps = 2
    try:
        api.send_text(PNID, to="15555550123", body="1")
        api.send_text(PNID, to="15555550123", body="2")
        with pytest.raises(RateLimited) as info:
            api.send_text(PNID, to="15555550123", body="3")
        assert info.value.code == 130429
    finally:
        emulator.config.throughput_mps = 80


def test_sync_window_error_and_unapproved_template_are_typed(api, emulator):
    emulator.fail_next_send(131047, mode="sync")
    with pytest.raises(WindowClosed):
        api.send_text(PNID, to="15555550123", body="late")
    with pytest.raises(TemplateNotApproved) as info:
        api.send_template(PNID, to="15555550123", name="nope", language="en_US", components=[])
    assert info.value.code == 132001


def test_invalid_request_is_a_permanent_error_with_metas_details(api):
    with pytest.raises(WhatsAppError) as info:
        api.send_text(PNID, to="12", body="hi")
    assert info.value.code == 131009 and not info.value.transient
    assert "7 to 15 digits" in info.value.user_message


def test_unreachable_api_is_a_transient_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = WhatsAppClient(TOKEN, base_url=f"http://127.0.0.1:{port}/v23.0", timeout=1)
    with pytest.raises(TransportError) as info:
        client.mark_read(PNID, message_id="wamid.X")
    assert info.value.transient


def test_error_for_maps_codes_and_http_status():
    assert isinstance(error_for(131056), RateLimited)
    assert isinstance(error_for(None, http_status=502), ServiceUnavailable)
    assert type(error_for(100)) is WhatsAppError


def test_templates_are_listed_across_pages(api, emulator):
    for n in range(5):
        emulator.add_template(WABA, name=f"paged_{n}")
    emulator.config.max_page_size = 2
    try:
        names = {t["name"] for t in api.list_templates(WABA)}
    finally:
        emulator.config.max_page_size = 1000
    assert {f"paged_{n}" for n in range(5)} <= names


def test_media_round_trip_checks_type_and_serves_with_token(api, emulator):
    media_id = api.upload_media(
        PNID, content=b"%PDF-1.4", mime_type="application/pdf", filename="a.pdf"
    )
    info = api.get_media(media_id)
    assert info.file_size == 8 and info.mime_type == "application/pdf"
    assert api.download_media(info.url).read() == b"%PDF-1.4"
    with pytest.raises(WhatsAppError):
        WhatsAppClient("wrong").download_media(info.url)
    emulator.advance_clock(301)  # Meta: a media URL expires after 5 minutes
    with pytest.raises(WhatsAppError):
        api.download_media(info.url)
    with pytest.raises(WhatsAppError):
        api.upload_media(PNID, content=b"x", mime_type="application/x-msdownload", filename="x")


def test_verification_code_flow_expiry_and_attempt_limit(api, emulator):
    number = api.add_phone_number(
        WABA, cc="1", phone_number="5550109999", verified_name="Acme Outdoor"
    )
    assert api.get_phone_number(number)["code_verification_status"] == "NOT_VERIFIED"
    api.request_code(number, method="SMS")
    code = emulator.last_code(number)
    assert len(code) == 6 and code not in repr(emulator.numbers[number])
    emulator.advance_clock(601)  # a code is valid 10 minutes
    with pytest.raises(WhatsAppError, match="expired"):
        api.verify_code(number, code=code)
    emulator.reset_clock()
    api.request_code(number, method="VOICE")
    code = emulator.last_code(number)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(emulator.config.max_verify_attempts):
        with pytest.raises(WhatsAppError):
            api.verify_code(number, code=wrong)
    with pytest.raises(WhatsAppError, match="Too many attempts"):
        api.verify_code(number, code=code)
    api.request_code(number, method="SMS")
    api.verify_code(number, code=emulator.last_code(number))
    api.register(number, pin="482913")
    assert api.get_phone_number(number, fields=["status"])["status"] == "CONNECTED"


def test_code_requests_are_limited(api, emulator):
    for _ in range(emulator.config.max_code_requests_per_hour):
        api.request_code(PNID, method="SMS")
    with pytest.raises(WhatsAppError) as info:
        api.request_code(PNID, method="SMS")
    assert info.value.code == 136024


def test_register_is_limited_to_ten_calls_in_72_hours(api, emulator):
    for _ in range(10):
        api.register(PNID, pin="123456")
    with pytest.raises(WhatsAppError) as info:
        api.register(PNID, pin="123456")
    assert info.value.code == 133016
    emulator.advance_clock(72 * 3600 + 1)
    api.register(PNID, pin="123456")


def test_wrong_pin_is_refused(api):
    api.register(PNID, pin="123456")
    with pytest.raises(WhatsAppError) as info:
        api.register(PNID, pin="654321")
    assert info.value.code == 133005


def test_business_profile_round_trip_and_validation(api):
    api.update_business_profile(
        PNID, about="Outdoor gear since 1999", websites=["https://acme.example.com"]
    )
    assert api.get_business_profile(PNID)["about"] == "Outdoor gear since 1999"
    with pytest.raises(WhatsAppError):
        api.update_business_profile(PNID, about="x" * 140)
    api.request_official_business_account(PNID, business_website_url="https://acme.example.com")
