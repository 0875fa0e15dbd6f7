"""Celery tasks of the audit log: thin wrappers that call one function."""

from celery import shared_task

from audit import retention


@shared_task(name="audit.tasks.prune_audit_log")
def prune_audit_log() -> int:
    """Delete audit rows older than AUDIT_RETENTION_DAYS (beat, daily)."""
    return retention.prune()
