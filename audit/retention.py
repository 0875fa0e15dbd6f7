"""The audit log's retention: rows older than AUDIT_RETENTION_DAYS are deleted in batches."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry


def cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=settings.AUDIT_RETENTION_DAYS)


def prune(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Delete the rows past the retention period, a batch per transaction; returns how many."""
    batch_size = batch_size or settings.AUDIT_PRUNE_BATCH_SIZE
    limit = cutoff(now)
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                AuditEntry.objects.filter(at__lt=limit)
                .order_by("at", "id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                return deleted
            deleted += AuditEntry.objects.filter(id__in=ids).delete()[0]
