from celery import shared_task
from django.utils import timezone

from service_levels import csat, sweep


@shared_task(name="service_levels.tasks.sweep", ignore_result=True)
def sweep_service_levels() -> dict:
    """Beat, every SLA_SWEEP_EVERY_S: SLA warnings and breaches, the window's last hour, due
    CSAT surveys (each a bounded pass)."""
    summary = sweep.sweep()
    sent = csat.send_due(now=timezone.now())
    return {"alerts": dict(summary.counts), "batches": summary.batches, "surveys": sent}
