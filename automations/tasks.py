"""The automations' Celery task: fire the rules a customer's message matched.

Matching runs in the webhook's request (in memory, cheap); the firings (writes through the
services) run here, so a webhook never waits for them. Should the broker refuse the task, the
rules fire in the request instead (logged): a firing is never dropped.
"""

import logging

from celery import Task, shared_task

from automations import actions

logger = logging.getLogger(__name__)


class FireOrRunHere(Task):
    def apply_async(self, args=None, kwargs=None, **options):
        try:
            return super().apply_async(args, kwargs, **options)
        except Exception as exc:  # any broker failure: fire in this process instead
            logger.warning("broker unavailable (%s: %s), automation rules fired in the request",
                           type(exc).__name__, str(exc)[:200])  # fmt: skip
            return self.apply(args=args, kwargs=kwargs)


@shared_task(base=FireOrRunHere, name="automations.tasks.fire_rules", max_retries=0)
def fire_rules(message_id: int, conversation_id: int, rule_ids: list[int], at: str) -> int:
    """Fire ``rule_ids`` (in this order) on the message; each at most once (idempotent)."""
    return actions.fire_matched(message_id, conversation_id, rule_ids, at=at)
