"""The checklist's rules without the provider: order, manual steps, waiting and blocking."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from onboarding import services
from onboarding.models import CodeRequest, OnboardingStep
from tests.factories import OnboardingFactory
from tests.onboarding.conftest import complete_through, snapshot

State = OnboardingStep.State


def state_of(onboarding, key):
    return OnboardingStep.objects.get(onboarding=onboarding, key=key).state


def test_terms_record_who_and_when_and_start_the_next_step(db, admin_user):
    onboarding = OnboardingFactory()
    now = timezone.now()
    services.record_terms(
        onboarding,
        agreement_signed_by="Dana Reyes (CEO)",
        terms_accepted_by="Dana Reyes",
        actor=admin_user,
        now=now,
    )
    onboarding.refresh_from_db()
    assert (onboarding.agreement_signed_by, onboarding.terms_accepted_at) == (
        "Dana Reyes (CEO)",
        now,
    )
    terms = onboarding.steps.get(key="terms")
    assert (terms.state, terms.completed_by, terms.completed_at) == (State.DONE, admin_user, now)
    assert onboarding.steps.get(key="details").waiting_since == now


def test_a_step_completed_out_of_order_is_refused_and_nothing_changes(db, admin_user):
    onboarding = OnboardingFactory()
    before = snapshot(onboarding)
    with pytest.raises(services.StepOutOfOrder, match=r"Step 2 cannot be done before: 1\. "):
        services.advance_step(onboarding, key="details", actor=admin_user)
    with pytest.raises(services.StepOutOfOrder, match="Step 4 cannot be done before: 3"):
        services.advance_step(onboarding, key="request_approved", actor=admin_user)
    with pytest.raises(services.StepOutOfOrder):
        services.mark_waiting(onboarding, key="business_verified", actor=admin_user)
    assert snapshot(onboarding) == before


def test_api_steps_cannot_be_marked_done_by_hand(db, admin_user):
    onboarding = complete_through(OnboardingFactory(), "business_verified")
    before = snapshot(onboarding)
    for key in ("account_created", "number_verified", "activated", "profile", "templates"):
        with pytest.raises(services.WrongAction, match="completed by its own action"):
            services.advance_step(onboarding, key=key, actor=admin_user)
    assert snapshot(onboarding) == before


def test_a_done_step_cannot_be_done_again(db, admin_user):
    onboarding = complete_through(OnboardingFactory(), "terms")
    with pytest.raises(services.StepAlreadyDone, match="Step 1 is already done"):
        services.record_terms(
            onboarding, agreement_signed_by="A", terms_accepted_by="B", actor=admin_user
        )


def test_block_needs_a_reason_and_stops_the_clock_until_marked_waiting(db, admin_user):
    onboarding = OnboardingFactory()
    with pytest.raises(ValidationError, match="Say why"):
        services.block_step(onboarding, key="terms", reason="  ", actor=admin_user)
    later = timezone.now() + timedelta(days=30)
    step = services.block_step(
        onboarding, key="terms", reason="Legal is reviewing the agreement", actor=admin_user
    )
    assert (step.state, step.is_overdue_at(later)) == (State.BLOCKED, False)
    assert "Blocked: Legal is reviewing" in step.notes
    step = services.mark_waiting(onboarding, key="terms", actor=admin_user, now=later)
    assert (step.state, step.blocked_reason, step.waiting_since) == (State.WAITING, "", later)


def test_details_step_rechecks_the_stored_details(db, admin_user):
    onboarding = complete_through(OnboardingFactory(), "terms")
    # A row written around the services (an old import) breaks a rule: the step is refused.
    type(onboarding).objects.filter(pk=onboarding.pk).update(display_name="ACME OUTDOOR")
    with pytest.raises(ValidationError, match="all capitals"):
        services.advance_step(onboarding, key="details", actor=admin_user)
    assert state_of(onboarding, "details") == State.TODO


def test_details_cannot_change_once_the_number_is_at_meta(db, admin_user):
    onboarding = complete_through(OnboardingFactory(), "account_created")
    with pytest.raises(ValidationError, match="registered at WhatsApp"):
        services.update_details(
            onboarding,
            phone_number="+49 151 23459999",
            business_manager_id=onboarding.business_manager_id,
            display_name=onboarding.display_name,
            actor=admin_user,
        )


def test_templates_step_can_run_beside_profile_and_badge(db):
    onboarding = complete_through(OnboardingFactory(), "activated")
    started = set(
        onboarding.steps.filter(waiting_since__isnull=False, state=State.TODO).values_list(
            "key", flat=True
        )
    )
    assert started == {"profile", "templates"}


def test_code_checks_run_before_the_api(db, admin_user):
    """Expiry (10 minutes) and attempts (5) are the desk's own checks: no client is needed to
    refuse, and a refused verify changes nothing."""
    onboarding = complete_through(OnboardingFactory(), "business_verified")
    with pytest.raises(services.NoCodeRequested):
        services.verify_code(onboarding, code="123456", actor=admin_user)
    asked = timezone.now()
    request = CodeRequest.objects.create(onboarding=onboarding, method="SMS", requested_at=asked)
    before = snapshot(onboarding)
    with pytest.raises(services.CodeExpired, match="valid 10 minutes"):
        services.verify_code(
            onboarding, code="123456", actor=admin_user, now=asked + timedelta(minutes=11)
        )
    CodeRequest.objects.filter(pk=request.pk).update(attempts=5)
    with pytest.raises(services.TooManyAttempts, match="Request a new code"):
        services.verify_code(onboarding, code="123456", actor=admin_user, now=asked)
    with pytest.raises(ValidationError, match="6 digits"):
        services.verify_code(onboarding, code="12a456", actor=admin_user, now=asked)
    assert snapshot(onboarding) == before
    request.refresh_from_db()
    assert request.attempts == 5


def test_code_validity_boundary_to_the_second(db):
    onboarding = OnboardingFactory()
    asked = timezone.now()
    request = CodeRequest(onboarding=onboarding, method="SMS", requested_at=asked)
    assert not request.is_expired(asked + timedelta(minutes=10) - timedelta(seconds=1))
    assert not request.is_expired(asked + timedelta(minutes=10))
    assert request.is_expired(asked + timedelta(minutes=10, seconds=1))


def test_a_landline_cannot_ask_for_an_sms(db, admin_user):
    onboarding = complete_through(
        OnboardingFactory(phone_number="+49 30 1234567"), "business_verified"
    )
    with pytest.raises(ValidationError, match="only by: Automated voice call"):
        services.request_code(onboarding, method="SMS", actor=admin_user)
    assert not onboarding.code_requests.exists()


def test_logo_type_and_size_are_checked_before_upload(db):
    import io

    from PIL import Image

    def image(fmt):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), "orange").save(buffer, fmt)
        return buffer.getvalue()

    assert services.check_logo(image("PNG")) == "image/png"
    assert services.check_logo(image("JPEG")) == "image/jpeg"
    with pytest.raises(ValidationError, match="JPEG or PNG"):
        services.check_logo(image("GIF"))
    with pytest.raises(ValidationError, match="not a readable image"):
        services.check_logo(b"%PDF-1.7 not an image")
    with pytest.raises(ValidationError, match="larger than 5 MB"):
        services.check_logo(image("PNG") + b"\0" * (5 * 2**20))
