"""A newcomer can walk the onboarding in the demo: the code reaches the number's phone page, and
a refused token at step 3 says which token to enter and where it comes from."""

import re

import httpx
import pytest
from django.utils import translation

from onboarding import services
from onboarding.models import OnboardingStep
from tests.factories import OnboardingFactory
from tests.onboarding.conftest import complete_through

pytestmark = pytest.mark.django_db(transaction=True)
WABA_ID = "104455667700002"
TOKEN = "operator-demo-token"


@pytest.fixture
def operator_account(emulator):
    emulator.add_number(phone_number_id="109876543200998", waba_id=WABA_ID, token=TOKEN)
    return emulator


def device(emulator, phone_number_id) -> list[dict]:
    return httpx.get(
        f"{emulator.base_url}/_emulator/api/device", params={"phone_number_id": phone_number_id}
    ).json()


@pytest.mark.parametrize(
    ("phone_number", "method", "pattern"),
    [
        ("+49 151 2345 0077", "SMS", r"code is (\d{3})-(\d{3})\."),
        ("+49 30 1234 5677", "VOICE", r"code is (\d) (\d) (\d) (\d) (\d) (\d)\."),
    ],
)
def test_the_code_reaches_the_phone_of_the_number_being_verified(
    operator_account, phone_number, method, pattern
):
    onboarding = OnboardingFactory(phone_number=phone_number, access_token=TOKEN)
    complete_through(onboarding, "details")
    services.add_number(onboarding, waba_id=WABA_ID, actor=None)
    onboarding.refresh_from_db()
    complete_through(onboarding, "business_verified")
    assert device(operator_account, onboarding.phone_number_id) == []

    services.request_code(onboarding, method=method, actor=None)
    [received] = device(operator_account, onboarding.phone_number_id)
    assert received["kind"] == method.lower()
    code = "".join(re.search(pattern, received["text"]).groups())
    services.verify_code(onboarding, code=code, actor=None)
    step = OnboardingStep.objects.get(onboarding=onboarding, key="number_verified")
    assert step.state == OnboardingStep.State.DONE
    page = httpx.get(f"{operator_account.base_url}/_emulator/phone").text
    assert "SMS and calls received by this number" in page


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Enter the operator's access token in this step's \"access token\" field"),
        ("de", "Geben Sie im Feld „Zugriffstoken“ dieses Schritts das Zugriffstoken des"),
    ],
)
def test_a_refused_token_at_step_3_says_which_token_to_enter_and_where_it_comes_from(
    operator_account, language, expected
):
    onboarding = complete_through(OnboardingFactory(access_token="not-the-token"), "details")
    with translation.override(language), pytest.raises(services.ProviderRefused) as refused:
        services.add_number(onboarding, waba_id=WABA_ID, actor=None)
    message = refused.value.message
    assert expected in message
    assert "190" in message and "whatsapp_business_management" in message
    assert "channel" not in message.lower() and "Kanal" not in message
