"""What the composer remembers per conversation: when the customer's messages were last marked
read and when "typing…" was last shown (composer.receipts throttles on these)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from conversations.models import Conversation


class ReadState(models.Model):
    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    # The last read receipt sent (at most one per conversation per RECEIPT_INTERVAL).
    marked_at = models.DateTimeField(_("marked read"), null=True, blank=True)
    # The wamid that receipt named: a newer customer message needs a new one.
    marked_wamid = models.CharField(max_length=128, blank=True)
    # The last typing indicator sent (at most one per conversation per TYPING_INTERVAL).
    typing_at = models.DateTimeField(_("typing shown"), null=True, blank=True)

    class Meta:
        verbose_name = _("read state")
        verbose_name_plural = _("read states")

    def __str__(self) -> str:
        return f"read state of conversation {self.conversation_id}"
