"""The reports' periodic job: thin, the body is ``reports.tallies.roll_up``."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from reports import tallies


@shared_task(name="reports.tasks.roll_up_report_tallies")
def roll_up_report_tallies() -> dict:
    """Count the messages of whole past hours into the reports' tallies (beat, every 5 minutes).

    Idempotent: it recomputes the hours it covers, so a repeated or overlapping run (serialised
    by a lock) writes the same counts.
    """
    return tallies.roll_up(now=timezone.now())


# The task's name before the reports had their own app: a message already queued under it (a
# worker upgraded while beat's last tick waits in the broker) still runs.
@shared_task(name="conversations.tasks.roll_up_report_tallies")
def roll_up_report_tallies_old_name() -> dict:
    return roll_up_report_tallies()
