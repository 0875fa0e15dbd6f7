"""Local checks of the submitted details: number, Business Manager ID, display name."""

import pytest
from django.core.exceptions import ValidationError

from onboarding import services
from onboarding.models import Onboarding, OnboardingStep
from onboarding.validation import display_name_problems, parse_phone_number

GOOD = {
    "phone_number": "+49 151 23450001",
    "business_manager_id": "2329417887457253",
    "display_name": "Acme Outdoor Supply",
}


@pytest.mark.parametrize(
    ("raw", "e164", "kind", "methods"),
    [
        ("+49 151 23450001", "+4915123450001", "mobile", ("SMS",)),
        ("0049 30 1234567", "+49301234567", "fixed_line", ("VOICE",)),
        ("+1 650-253-0000", "+16502530000", "fixed_line_or_mobile", ("SMS", "VOICE")),
        ("+49 800 1234567", "+498001234567", "fixed_line", ("VOICE",)),
    ],
)
def test_numbers_are_normalised_to_e164_and_the_line_decides_sms_or_voice(raw, e164, kind, methods):
    parsed = parse_phone_number(raw)
    assert (parsed.e164, parsed.kind, parsed.code_methods) == (e164, kind, methods)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("030 1234567", "international format"),
        ("+49 12", "not a valid phone number"),
        ("+999 1234567", "not a phone number"),
        ("+49 abc", "not a phone number"),
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(raw, message):
    with pytest.raises(ValidationError, match=message):
        parse_phone_number(raw)


@pytest.mark.parametrize(
    "name",
    [
        "Ac",
        "Acme 😀 Outdoor",
        "www.acme-outdoor.com",
        "Acme Outdoor.de",
        "http://acme",
        "Acme™ Outdoor",
        "Acme Outdoor!!",
        "Acme?! Outdoor",
        "Acme...",
        "ACME OUTDOOR SUPPLY",
        "x" * 256,
    ],
)
def test_display_names_breaking_a_local_rule_are_errors(name):
    errors, _warnings = display_name_problems(name)
    assert errors


@pytest.mark.parametrize(
    "name", ["Acme Outdoor Supply", "IBM", "BMW AG Berlin", "Yahoo!", "Acme Test", "Müller & Söhne"]
)
def test_ordinary_names_and_short_acronyms_pass(name):
    assert display_name_problems(name) == ([], [])


@pytest.mark.parametrize(
    "name",
    ["Fashion", "New York", "Acme OUTDOOR Supply", "The best outdoor gear in the whole world"],
)
def test_subjective_rules_are_warnings_not_errors(name):
    errors, warnings = display_name_problems(name)
    assert errors == [] and warnings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone_number", "+49 12", "not a valid phone number"),
        ("business_manager_id", "23294-17887", "digits only"),
        ("business_manager_id", "123456789", "10 to 20"),
        ("display_name", "ACME OUTDOOR SUPPLY", "all capitals"),
        ("code_method", "SMS", "landline cannot receive an SMS"),
    ],
)
def test_create_onboarding_refuses_bad_details_and_writes_nothing(db, field, value, message):
    details = {**GOOD, field: value}
    if field == "code_method":
        details["phone_number"] = "+49 30 1234567"
    with pytest.raises(ValidationError, match=message) as caught:
        services.create_onboarding(**details, actor=None)
    assert field in caught.value.message_dict
    assert Onboarding.objects.count() == OnboardingStep.objects.count() == 0


def test_create_onboarding_stores_e164_and_ten_steps_with_the_first_started(db):
    onboarding = services.create_onboarding(**GOOD, actor=None)
    assert onboarding.phone_number == "+4915123450001"
    assert (onboarding.number_type, onboarding.code_method) == ("mobile", "SMS")
    states = list(onboarding.steps.order_by("order").values_list("key", "state"))
    assert [s for _k, s in states] == ["todo"] * 10
    started = onboarding.steps.filter(waiting_since__isnull=False).values_list("key", flat=True)
    assert list(started) == ["terms"]


def test_landline_defaults_to_voice_and_ambiguous_lines_may_choose(db):
    landline = services.create_onboarding(**{**GOOD, "phone_number": "+49 30 1234567"}, actor=None)
    assert landline.code_method == "VOICE"
    us = services.create_onboarding(
        **{**GOOD, "phone_number": "+1 650 253 0000"}, code_method="VOICE", actor=None
    )
    assert (us.number_type, us.code_method) == ("fixed_line_or_mobile", "VOICE")


def test_the_same_number_cannot_be_onboarded_twice(db):
    services.create_onboarding(**GOOD, actor=None)
    with pytest.raises(ValidationError, match=r"(?i)phone number already exists"):
        services.create_onboarding(**{**GOOD, "phone_number": "+4915123450001"}, actor=None)
