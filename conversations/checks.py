"""System checks for settings whose wrong values would break a guarantee silently."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

# httpx applies WHATSAPP_HTTP_TIMEOUT to connecting, writing, reading and waiting for a pooled
# connection separately, so one send can take up to four times it before it gives up.
TIMEOUT_PHASES = 4


@checks.register(checks.Tags.compatibility)
def check_outbound_sweep_thresholds(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The outbound sweep must never take a send still in flight for a dead one and resend it."""
    sending_after = settings.OUTBOUND_STUCK_SENDING_AFTER.total_seconds()
    longest_send = TIMEOUT_PHASES * settings.WHATSAPP_HTTP_TIMEOUT
    if sending_after > longest_send:
        return []
    return [
        checks.Error(
            f"OUTBOUND_STUCK_SENDING_AFTER_S ({sending_after:g} s) must be longer than the "
            f"longest send ({TIMEOUT_PHASES} x WHATSAPP_HTTP_TIMEOUT = {longest_send:g} s).",
            hint="A reply still being sent would be taken for a stuck one and sent twice. "
            "Raise OUTBOUND_STUCK_SENDING_AFTER_S or lower WHATSAPP_HTTP_TIMEOUT.",
            id="conversations.E001",
        )
    ]


@checks.register(checks.Tags.compatibility)
def check_media_claim_timeout(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The media sweep must never take a download still running for a dead one."""
    claim = settings.MEDIA_DOWNLOAD_CLAIM_TIMEOUT.total_seconds()
    limit = settings.CELERY_TASK_TIME_LIMIT
    if claim > limit:
        return []
    return [
        checks.Error(
            f"MEDIA_DOWNLOAD_CLAIM_TIMEOUT_S ({claim:g} s) must be longer than the longest "
            f"download (CELERY_TASK_TIME_LIMIT = {limit} s).",
            hint="A download still running would be taken for a lost one and fetched twice. "
            "Raise MEDIA_DOWNLOAD_CLAIM_TIMEOUT_S.",
            id="conversations.E002",
        )
    ]
