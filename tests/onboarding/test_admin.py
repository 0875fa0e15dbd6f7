"""The onboarding admin: list with progress, change page checklist, per-step action views."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from onboarding.admin import OnboardingAdmin
from onboarding.models import Onboarding, OnboardingStep
from tests.factories import OnboardingFactory, UserFactory
from tests.onboarding.conftest import complete_through, snapshot

State = OnboardingStep.State
CHANGELIST = "admin:onboarding_onboarding_changelist"


def change_url(onboarding):
    return reverse("admin:onboarding_onboarding_change", args=[onboarding.pk])


def action_url(onboarding, action):
    return reverse(f"admin:onboarding_onboarding_{action}", args=[onboarding.pk])


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_changelist_shows_progress_current_step_actor_and_overdue(client, admin_user):
    from datetime import timedelta

    from django.utils import timezone

    weeks_ago = timezone.now() - timedelta(days=20)
    old = OnboardingFactory(display_name="Acme Outdoor Supply", created_at=weeks_ago)
    complete_through(old, "request_approved", now=weeks_ago)
    client.force_login(admin_user)
    html = client.get(reverse(CHANGELIST)).content.decode()
    assert '<progress value="4" max="10"' in html and "4/10" in html
    assert "5. Business verification completed in the Security Center (To do)" in html
    assert "Customer organisation" in html
    assert "⚠ 5" in html and "over 10 business days" in html


def test_changelist_query_count_does_not_grow_with_rows(
    client, admin_user, django_assert_num_queries
):
    client.force_login(admin_user)
    OnboardingFactory()
    url = reverse(CHANGELIST)
    client.get(url)
    with django_assert_num_queries(6) as few:
        assert client.get(url).status_code == 200
    for _ in range(15):
        complete_through(OnboardingFactory(), "details")
    with django_assert_num_queries(6) as many:
        assert client.get(url).status_code == 200
    assert len(few.captured_queries) == len(many.captured_queries)


def test_user_entered_names_are_escaped(client, admin_user):
    onboarding = OnboardingFactory(display_name="Tom & Jerry <b>Shop</b>")
    services_block = "<script>alert(1)</script>"
    from onboarding import services

    services.block_step(onboarding, key="terms", reason=services_block, actor=admin_user)
    client.force_login(admin_user)
    html = client.get(reverse(CHANGELIST)).content.decode()
    assert "<b>Shop</b>" not in html and "&lt;b&gt;Shop&lt;/b&gt;" in html
    assert services_block not in html and "&lt;script&gt;" in html
    html = client.get(change_url(onboarding)).content.decode()
    assert services_block not in html


@pytest.mark.parametrize("language", ["en", "de"])
def test_admin_pages_render_in_english_and_german(client, admin_user, language):
    onboarding = complete_through(OnboardingFactory(), "business_verified")
    client.force_login(admin_user)
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    changelist = client.get(reverse(CHANGELIST), **headers)
    change = client.get(change_url(onboarding), **headers)
    add = client.get(reverse("admin:onboarding_onboarding_add"), **headers)
    assert changelist.status_code == change.status_code == add.status_code == 200
    expected = {
        "en": ["Log out", "Save", "Add WhatsApp onboarding", "Request code"],
        "de": ["Abmelden", "Sichern", "hinzufügen", f'lang="{language}"'],
    }[language]
    pages = changelist.content.decode() + change.content.decode() + add.content.decode()
    for text in expected:
        assert text in pages


def test_change_page_offers_one_action_per_step_and_names_missing_prerequisites(client, admin_user):
    onboarding = complete_through(OnboardingFactory(), "business_verified")
    client.force_login(admin_user)
    html = client.get(change_url(onboarding)).content.decode()
    assert action_url(onboarding, "request_code") in html
    assert action_url(onboarding, "register") not in html  # step 7 needs step 6 first
    assert "First: 6. Phone number verified with a 6-digit code" in html


def test_staff_without_admin_role_is_refused(client, db):
    onboarding = OnboardingFactory()
    staff = UserFactory(username="stan_staff", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(change_url(onboarding)).status_code == 403
    response = client.post(action_url(onboarding, "advance_step"), {"key": "terms"})
    assert response.status_code == 403


def test_action_views_are_post_only_and_missing_objects_404(client, admin_user):
    onboarding = OnboardingFactory()
    client.force_login(admin_user)
    assert client.get(action_url(onboarding, "advance_step")).status_code == 405
    missing = reverse("admin:onboarding_onboarding_advance_step", args=[999999])
    assert client.post(missing, {"key": "terms"}).status_code == 404


def test_admin_records_terms_marks_done_and_logs_the_change(client, admin_user):
    onboarding = OnboardingFactory()
    client.force_login(admin_user)
    response = client.post(
        action_url(onboarding, "record_terms"),
        {"agreement_signed_by": "Dana Reyes", "terms_accepted_by": "Dana Reyes"},
        follow=True,
    )
    assert messages_of(response) == [
        "Step done: 1. Agreement signed and WhatsApp Business terms accepted"
    ]
    response = client.post(
        action_url(onboarding, "advance_step"), {"key": "details", "note": "by e-mail"}, follow=True
    )
    assert "Step done: 2." in messages_of(response)[0]
    step = onboarding.steps.get(key="details")
    assert (step.state, step.completed_by, "by e-mail" in step.notes) == (
        State.DONE,
        admin_user,
        True,
    )
    assert LogEntry.objects.filter(object_id=str(onboarding.pk)).count() == 2


def test_admin_out_of_order_step_shows_the_error_and_changes_nothing(client, admin_user):
    onboarding = OnboardingFactory()
    before = snapshot(onboarding)
    client.force_login(admin_user)
    response = client.post(
        action_url(onboarding, "advance_step"), {"key": "request_approved"}, follow=True
    )
    assert messages_of(response) == [
        "Step 4 cannot be done before: 3. WhatsApp Business account created for the number "
        "and display name."
    ]
    assert snapshot(onboarding) == before
    assert not LogEntry.objects.exists()


def test_admin_blocks_a_step_with_a_reason(client, admin_user):
    onboarding = OnboardingFactory()
    client.force_login(admin_user)
    client.post(action_url(onboarding, "block_step"), {"key": "terms", "reason": "Legal review"})
    step = onboarding.steps.get(key="terms")
    assert (step.state, step.blocked_reason) == (State.BLOCKED, "Legal review")
    response = client.post(action_url(onboarding, "block_step"), {"key": "terms"}, follow=True)
    assert messages_of(response)[-1] == "This field is required."


def test_add_form_validates_and_creates_the_checklist(client, admin_user):
    client.force_login(admin_user)
    add = reverse("admin:onboarding_onboarding_add")
    bad = client.post(
        add,
        {
            "phone_number": "030 1234567",
            "code_method": "SMS",
            "business_manager_id": "12ab",
            "display_name": "SHOP!!",
        },
    )
    assert bad.status_code == 200
    errors = bad.context["adminform"].form.errors
    assert set(errors) == {"phone_number", "business_manager_id", "display_name"}
    assert not Onboarding.objects.exists()
    response = client.post(
        add,
        {
            "phone_number": "+49 30 1234567",
            "code_method": "VOICE",
            "business_manager_id": "2329417887457253",
            "display_name": "Acme Outdoor Supply",
            "access_token": "operator-secret-token",
        },
    )
    assert response.status_code == 302, response.content
    onboarding = Onboarding.objects.get()
    assert (onboarding.phone_number, onboarding.number_type, onboarding.code_method) == (
        "+49301234567",
        "fixed_line",
        "VOICE",
    )
    assert onboarding.access_token == "operator-secret-token"
    assert onboarding.steps.count() == 10 and onboarding.created_by == admin_user
    # Write-only: the token is never rendered back, and an empty field keeps it.
    page = client.get(change_url(onboarding)).content.decode()
    assert "operator-secret-token" not in page
    client.post(
        change_url(onboarding),
        {
            "phone_number": "+49 30 1234567",
            "code_method": "VOICE",
            "business_manager_id": "2329417887457254",
            "display_name": "Acme Outdoor Supply",
            "access_token": "",
        },
    )
    onboarding.refresh_from_db()
    assert (onboarding.business_manager_id, onboarding.access_token) == (
        "2329417887457254",
        "operator-secret-token",
    )


def test_display_helpers_work_on_a_single_object(admin_user):
    from django.contrib import admin

    onboarding = OnboardingFactory()
    model_admin = OnboardingAdmin(Onboarding, admin.site)
    assert "0/10" in model_admin.progress(onboarding)
    assert model_admin.next_actor(onboarding) == "Customer organisation"
    assert model_admin.overdue(onboarding) == "—"


def test_status_filter_finds_open_blocked_and_flagged_overdue(client, admin_user):
    from datetime import timedelta

    from django.utils import timezone

    from onboarding import services

    late = OnboardingFactory(display_name="Late Lanterns")
    complete_through(late, "request_approved", now=timezone.now() - timedelta(days=20))
    services.flag_overdue()
    stuck = OnboardingFactory(display_name="Stuck Skates")
    services.block_step(stuck, key="terms", reason="Waiting for legal", actor=admin_user)
    OnboardingFactory(display_name="Fresh Farms")
    client.force_login(admin_user)

    def names(status):
        response = client.get(reverse(CHANGELIST), {"status": status})
        return sorted(o.display_name for o in response.context["cl"].result_list)

    assert names("overdue") == ["Late Lanterns"]
    assert names("blocked") == ["Stuck Skates"]
    assert names("open") == ["Fresh Farms", "Late Lanterns", "Stuck Skates"]
    assert names("complete") == []
