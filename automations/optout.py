"""Marketing opt-out: who may receive marketing templates, and every change of that.

A customer opts out by writing a stop word alone ("STOP", "Abmelden", … ``OptOutWord``) or when
WhatsApp reports it (the ``user_preferences`` webhook, value "stop"); a start word, WhatsApp's
"resume" or an agent with a note opts them back in. Each change writes an ``OptOutChange`` row
and, on the conversation it concerns, an Event (``opted_out`` / ``opted_in``), in one
transaction. ``refusal`` is the one check of the template send path: the conversation services
ask it (``conversations.send_policy``) before any template is queued, whoever sends it (an agent
on the page, the API, an automation). See docs/automations.md.
"""

from __future__ import annotations

import string
import time
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from automations.models import MarketingOptOut, OptOutChange, OptOutWord
from channels_app.access import Cap, require
from channels_app.models import MessageTemplate
from conversations import services
from conversations.models import Contact, Conversation, Message

OPTED_OUT_REFUSAL = _(
    "This customer opted out of marketing messages, so a marketing template cannot be sent to "
    "them. Send a utility template, or wait until they opt back in."
)
NOTE_REQUIRED = _("Say in a note why the customer is opted back in (e.g. how they asked).")

EVENT_OUT = "opted_out"
EVENT_IN = "opted_in"

# The words change rarely and are read on every inbound message: each process keeps them this
# long (an admin's change applies within WORDS_TTL_S).
WORDS_TTL_S = 30.0
_words: tuple[float, dict[str, str]] = (0.0, {})
_STRIP = string.punctuation + string.whitespace + "¡¿«»“”„"


def normalize(text: str) -> str:
    return " ".join((text or "").split()).strip(_STRIP).casefold()


def words() -> dict[str, str]:
    """{normalized word: kind}, from the database at most every WORDS_TTL_S seconds."""
    global _words
    loaded_at, cached = _words
    if time.monotonic() - loaded_at > WORDS_TTL_S:
        cached = {normalize(w): k for w, k in OptOutWord.objects.values_list("word", "kind")}
        _words = (time.monotonic(), cached)
    return cached


def forget_words() -> None:
    global _words
    _words = (0.0, {})


def word_kind(text: str) -> str | None:
    """"stop" or "start" when the whole message is one of the words (case and punctuation
    aside: "Stop!" counts, "please stop calling" does not), else None."""
    if not text or len(text) > 64:
        return None
    return words().get(normalize(text))


def is_opted_out(contact_id: int) -> bool:
    return MarketingOptOut.objects.filter(contact_id=contact_id, opted_out=True).exists()


def refusal(conversation: Conversation, template: MessageTemplate) -> str | None:
    """Why this template may not go to this conversation's customer, or None."""
    if template.category != MessageTemplate.Category.MARKETING:
        return None
    if is_opted_out(conversation.contact_id):
        return str(OPTED_OUT_REFUSAL)
    return None


@transaction.atomic
def set_consent(
    contact: Contact,
    *,
    opted_out: bool,
    source: str,
    actor=None,
    note: str = "",
    evidence: str = "",
    channel_id: int | None = None,
    conversation: Conversation | None = None,
    now: datetime | None = None,
) -> bool:
    """Record the contact's choice; False (nothing written) when it is already so."""
    now = now or timezone.now()
    state, created = MarketingOptOut.objects.select_for_update().get_or_create(
        contact=contact,
        defaults={"opted_out": opted_out, "changed_at": now, "source": source},
    )
    if not created:
        if state.opted_out == opted_out:
            return False
        state.opted_out, state.changed_at, state.source = opted_out, now, source
        state.save(update_fields=["opted_out", "changed_at", "source"])
    elif not opted_out:
        return False  # never opted out: opting in changes nothing
    OptOutChange.objects.create(
        contact=contact, opted_out=opted_out, source=source, actor=actor, note=note,
        evidence=evidence[:255], channel_id=channel_id, created_at=now,
    )  # fmt: skip
    if conversation is None and channel_id is not None:
        conversation = (
            Conversation.objects.filter(
                contact=contact, channel_id=channel_id, status__in=Conversation.OPEN
            )
            .order_by("-opened_at")
            .first()
        )
    if conversation is not None:
        services.record_event(
            conversation,
            kind=EVENT_OUT if opted_out else EVENT_IN,
            actor=actor,
            data={"source": source, "note": note, "evidence": evidence[:255]},
            now=now,
        )
    return True


def opt_in_by_agent(conversation: Conversation, *, actor, note: str) -> bool:
    """An agent opts the customer back in (Cap.ANNOTATE on the channel; a note is required)."""
    require(actor, Cap.ANNOTATE, conversation.channel)
    note = (note or "").strip()
    if not note:
        raise services.DomainError(str(NOTE_REQUIRED))
    return set_consent(
        conversation.contact, opted_out=False, source=OptOutChange.Source.AGENT, actor=actor,
        note=note[:2000], channel_id=conversation.channel_id, conversation=conversation,
    )  # fmt: skip


def opt_out_by_agent(conversation: Conversation, *, actor, note: str) -> bool:
    """An agent records that the customer asked to stop (Cap.ANNOTATE; a note is required)."""
    require(actor, Cap.ANNOTATE, conversation.channel)
    note = (note or "").strip()
    if not note:
        raise services.DomainError(str(NOTE_REQUIRED))
    return set_consent(
        conversation.contact, opted_out=True, source=OptOutChange.Source.AGENT, actor=actor,
        note=note[:2000], channel_id=conversation.channel_id, conversation=conversation,
    )  # fmt: skip


def apply_preference(*, channel_id: int, wa_id: str, value: str, detail: str = "",
                     now: datetime | None = None) -> bool:  # fmt: skip
    """WhatsApp's ``user_preferences`` report for one customer: "stop" or "resume"."""
    if value not in ("stop", "resume"):
        return False
    contact = Contact.objects.filter(wa_id=wa_id).first()
    if contact is None:
        contact, _created = Contact.objects.get_or_create(
            kind="whatsapp", wa_id=wa_id, defaults={"phone": f"+{wa_id}"}
        )
    return set_consent(
        contact, opted_out=value == "stop", source=OptOutChange.Source.META,
        evidence=detail or f"user_preferences: {value}", channel_id=channel_id, now=now,
    )  # fmt: skip


# WhatsApp's failure code for "this recipient has chosen to stop receiving marketing messages on
# WhatsApp from your business" (reference: 131050, "honour opt-out").
STOPPED_MARKETING = 131050


def on_delivery_changed(sender, *, message_ids, change, **kwargs) -> None:
    """``conversations.signals.message_changed``: a send that failed with 131050 tells us the
    customer stopped marketing messages; they are opted out as WhatsApp reported it."""
    if change != "delivery" or not message_ids:
        return
    rows = Message.objects.filter(
        pk__in=list(message_ids), failure_code=STOPPED_MARKETING
    ).values_list(
        "conversation__contact_id", "channel_id", "conversation_id", "provider_message_id"
    )
    for contact_id, channel_id, conversation_id, wamid in rows:
        set_consent(
            Contact.objects.get(pk=contact_id), opted_out=True, source=OptOutChange.Source.META,
            evidence=f"{STOPPED_MARKETING} on {wamid}", channel_id=channel_id,
            conversation=Conversation.objects.get(pk=conversation_id),
        )  # fmt: skip
