"""Overdue steps count business days: weekends pause the clock; boundaries to the second."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from onboarding import business_time, services, steps
from onboarding.business_time import add_business_time, business_elapsed
from onboarding.models import OnboardingStep
from onboarding.tasks import check_overdue
from tests.factories import OnboardingFactory
from tests.onboarding.conftest import complete_through

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_EVENING = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)  # a Friday
MONDAY_MORNING = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


def test_weekend_does_not_count():
    assert business_elapsed(FRIDAY_EVENING, MONDAY_MORNING, tz=UTC) == timedelta(hours=15)
    saturday, sunday = datetime(2026, 3, 7, 1, tzinfo=UTC), datetime(2026, 3, 8, 23, tzinfo=UTC)
    assert business_elapsed(saturday, sunday, tz=UTC) == timedelta(0)
    assert business_elapsed(MONDAY_MORNING, FRIDAY_EVENING, tz=UTC) == timedelta(0)


def test_48_hours_from_friday_evening_end_on_tuesday_evening():
    due = add_business_time(FRIDAY_EVENING, timedelta(hours=48), tz=UTC)
    assert due == datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
    assert business_elapsed(FRIDAY_EVENING, due, tz=UTC) == timedelta(hours=48)


def test_weekdays_are_judged_in_the_local_zone_and_dst_days_keep_their_length():
    # 29 March 2026 is a Sunday and Berlin's spring-forward day; Monday 30 has 24 hours.
    friday = datetime(2026, 3, 27, 23, 30, tzinfo=UTC)  # already Saturday 00:30 in Berlin
    monday_end = datetime(2026, 3, 30, 22, 0, tzinfo=UTC)  # Tuesday 00:00 in Berlin (CEST)
    assert business_elapsed(friday, monday_end, tz=BERLIN) == timedelta(hours=24)


def _step(key, since, state=OnboardingStep.State.WAITING):
    return OnboardingStep(key=key, order=steps.get(key).order, state=state, waiting_since=since)


def test_step_waiting_since_friday_evening_is_not_overdue_on_monday_morning(settings, db):
    # db: the checklist's business days skip the holidays stored for it (none here).
    settings.TIME_ZONE = "UTC"
    step = _step("business_verified", FRIDAY_EVENING)  # Meta's 48 hours
    assert not step.is_overdue_at(MONDAY_MORNING)
    assert step.due_at() == datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "due"),
    [
        ("business_verified", datetime(2026, 3, 10, 18, 0, tzinfo=UTC)),  # 48 business hours
        ("request_approved", datetime(2026, 3, 9, 18, 0, tzinfo=UTC)),  # one business day
    ],
)
def test_overdue_boundary_is_exact_to_the_second(settings, key, due, db):
    settings.TIME_ZONE = "UTC"
    step = _step(key, FRIDAY_EVENING)
    assert not step.is_overdue_at(due - timedelta(seconds=1))
    assert not step.is_overdue_at(due)
    assert step.is_overdue_at(due + timedelta(seconds=1))


def test_done_blocked_and_unstarted_steps_are_never_overdue():
    late = FRIDAY_EVENING + timedelta(days=30)
    assert not _step("terms", FRIDAY_EVENING, OnboardingStep.State.DONE).is_overdue_at(late)
    assert not _step("terms", FRIDAY_EVENING, OnboardingStep.State.BLOCKED).is_overdue_at(late)
    assert not _step("terms", None, OnboardingStep.State.TODO).is_overdue_at(late)


def test_check_overdue_flags_and_clears_in_a_constant_number_of_queries(
    db, settings, caplog, django_assert_num_queries
):
    settings.TIME_ZONE = "UTC"
    onboardings = [OnboardingFactory(created_at=FRIDAY_EVENING) for _ in range(3)]
    for onboarding in onboardings:
        complete_through(onboarding, "request_approved", now=FRIDAY_EVENING)
    tuesday_night = datetime(2026, 3, 10, 18, 0, 1, tzinfo=UTC)
    # The holidays are read once and kept per process (service_levels.hours): warm them first.
    business_time.holiday_rule()
    with django_assert_num_queries(3):
        flagged, cleared = services.flag_overdue(now=tuesday_night)
    assert (flagged, cleared) == (3, 0)
    flagged_keys = set(OnboardingStep.objects.filter(is_overdue=True).values_list("key", flat=True))
    assert flagged_keys == {"business_verified"}
    assert "3 onboarding step(s) newly overdue" in caplog.text
    # Idempotent; a completed step loses its flag.
    assert services.flag_overdue(now=tuesday_night) == (0, 0)
    services.advance_step(onboardings[0], key="business_verified", actor=None, now=tuesday_night)
    assert OnboardingStep.objects.filter(is_overdue=True).count() == 2


def test_check_overdue_task_runs_the_service(db):
    OnboardingFactory(created_at=FRIDAY_EVENING)
    assert check_overdue.apply().get() == {"flagged": 1, "cleared": 0}


def test_onboarding_status_command_text_json_and_now(db, capsys, settings):
    settings.TIME_ZONE = "UTC"
    onboarding = OnboardingFactory(display_name="Acme Outdoor Supply", created_at=FRIDAY_EVENING)
    complete_through(onboarding, "request_approved", now=FRIDAY_EVENING)
    call_command("onboarding_status", "--now", "2026-03-09T09:00:00+00:00")
    out = capsys.readouterr().out
    assert "Acme Outdoor Supply" in out and "4/10" in out and "OVERDUE" not in out
    assert "next: Customer organisation" in out
    call_command("onboarding_status", "--json", "--now", "2026-03-11T09:00:00")
    import json

    data = json.loads(capsys.readouterr().out)
    [row] = data["onboardings"]
    assert (row["done"], row["current_step"]["key"], row["next_actor"]) == (
        4,
        "business_verified",
        "customer",
    )
    assert [s["key"] for s in row["overdue_steps"]] == ["business_verified"]


def test_onboarding_status_refuses_a_bad_now(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="not an ISO 8601 moment"):
        call_command("onboarding_status", "--now", "monday")
