"""CSAT surveys after an agent resolves a conversation.

- Scheduled when an agent resolves (``resolved_by`` set; auto-resolve never asks), if the
  channel's survey is on, the conversation falls in the sampled share, and the contact had no
  survey on the channel in the last 7 days (scheduled, sent or answered; a cancelled or
  unsent one does not count).
- Due ``csat_delay`` after the resolve; a reopen before then cancels it. The periodic sweep sends
  due surveys: interactive buttons 1-5 while the 24-hour window is open, otherwise the approved
  template chosen per channel (its quick-reply buttons answer), otherwise nothing (skipped).
- The answer: an interactive ``button_reply`` whose id is ``csat:<survey id>:<score>``, or a
  template's quick-reply button whose payload is ``csat:<score>`` (or whose text is a digit
  1-5). It is stored on the survey, which is credited to the agent who resolved. With a comment
  question set, that question follows, and the customer's next text message within 24 hours is
  the comment.

Sampling is decided from the conversation's id (a stable hash), so a rerun decides the same.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.db import transaction

from channels_app.whatsapp import outgoing
from conversations import services
from conversations.models import Conversation, Message
from service_levels.models import CsatSurvey, ServiceSettings
from service_levels.responders import send_text_or_template

CAP = timedelta(days=7)
COMMENT_WINDOW = timedelta(hours=24)
BATCH = 200
SCORES = range(1, 6)
ANSWER_ID = re.compile(r"^csat:(?:(\d+):)?([1-5])$")
State = CsatSurvey.State
SAVED_FIELDS = ["state", "score", "answered_at", "comment_until", "comment"]


def sampled(conversation_id: int, percent: int) -> bool:
    if percent >= 100:
        return True
    digest = hashlib.sha256(f"csat:{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


@transaction.atomic
def on_resolved(conversation_ids, *, now: datetime) -> list[CsatSurvey]:
    """Schedule surveys for conversations an agent just resolved."""
    conversations = list(
        Conversation.objects.filter(
            pk__in=list(conversation_ids),
            status=Conversation.Status.RESOLVED,
            resolution=Conversation.Resolution.AGENT,
            resolved_by__isnull=False,
        )
    )
    confs = {
        s.channel_id: s
        for s in ServiceSettings.objects.filter(
            channel_id__in={c.channel_id for c in conversations}, csat_enabled=True
        )
    }
    made = []
    for conv in conversations:
        conf = confs.get(conv.channel_id)
        if conf is None or not sampled(conv.pk, conf.csat_sample_percent):
            continue
        resolved_at = conv.resolved_at or now
        recent = CsatSurvey.objects.filter(
            contact_id=conv.contact_id,
            channel_id=conv.channel_id,
            state__in=[State.SCHEDULED, State.SENT, State.ANSWERED],
            resolved_at__gt=resolved_at - CAP,
        )
        if recent.exists():
            continue
        made.append(
            CsatSurvey.objects.create(
                conversation=conv,
                channel_id=conv.channel_id,
                contact_id=conv.contact_id,
                agent_id=conv.resolved_by_id,
                state=State.SCHEDULED,
                resolved_at=resolved_at,
                due_at=resolved_at + conf.csat_delay,
            )
        )
    return made


def on_reopened(conversation_ids) -> int:
    """A reopened conversation's scheduled survey is cancelled."""
    return CsatSurvey.objects.filter(
        conversation_id__in=list(conversation_ids), state=State.SCHEDULED
    ).update(state=State.CANCELLED)


def buttons(survey: CsatSurvey, question: str) -> dict:
    """The interactive message: WhatsApp allows three reply buttons, so 1-5 go as a list."""
    return outgoing.list_message(
        body=question[: outgoing.MAX_INTERACTIVE_BODY],
        button="1-5",
        rows=[(f"csat:{survey.pk}:{n}", f"{n} " + "\u2605" * n, "") for n in SCORES],
    )


def send_due(*, now: datetime, batch_size: int = BATCH) -> int:
    """Send (or skip, or cancel) the surveys whose delay has passed; one bounded batch."""
    with transaction.atomic():
        due = list(
            CsatSurvey.objects.select_for_update(skip_locked=True)
            .filter(state=State.SCHEDULED, due_at__lte=now)
            .order_by("due_at")[:batch_size]
        )
        if not due:
            return 0
        convs = Conversation.objects.in_bulk([s.conversation_id for s in due])
        confs = {
            s.channel_id: s
            for s in ServiceSettings.objects.filter(
                channel_id__in={s.channel_id for s in due}
            ).select_related("csat_template")
        }
        for survey in due:
            conv, conf = convs.get(survey.conversation_id), confs.get(survey.channel_id)
            if conv is None or conv.status != Conversation.Status.RESOLVED or conf is None:
                survey.state = State.CANCELLED
            else:
                message = _send(survey, conv, conf, now)
                survey.state = State.SENT if message else State.SKIPPED
                survey.sent_at = now if message else None
                survey.message_id = message.pk if message else None
            survey.save(update_fields=["state", "sent_at", "message_id"])
        return len(due)


def _send(survey, conv, conf, now) -> Message | None:
    margin = django_settings.WHATSAPP_WINDOW_SAFETY_MARGIN
    if conv.is_window_open(now, margin=margin):
        return services.send_system_message(
            conv,
            body=conf.csat_question,
            interactive=buttons(survey, conf.csat_question),
            now=now,
        )
    return send_text_or_template(conv, text="", template=conf.csat_template, now=now)


def score_of(message: Message) -> tuple[int | None, int | None]:
    """(survey id or None, score) of an answer message, (None, None) when it is not one."""
    payload = message.payload or {}
    if message.type == Message.Type.INTERACTIVE:
        match = ANSWER_ID.match(str(payload.get("id", "")))
        if match:
            return (int(match.group(1)) if match.group(1) else None), int(match.group(2))
    if message.type == Message.Type.BUTTON:
        match = ANSWER_ID.match(str(payload.get("payload", "")))
        if match:
            return (int(match.group(1)) if match.group(1) else None), int(match.group(2))
        text = (message.body or "").strip()
        if text.isdigit() and int(text) in SCORES:
            return None, int(text)
    return None, None


@transaction.atomic
def on_customer_messages(messages: list[Message], *, now: datetime) -> set[int]:
    """Store answers and comments found among customers' messages; a constant number of queries
    whatever the batch's size (the surveys answered, their channels' settings, the comments
    awaited), plus one comment question sent per answer when the channel asks one.

    Returns the ids of the conversations whose messages here were all survey scores (the caller
    resolves those that the answers opened). A comment is stored on its survey but never resolves
    its conversation: free text may be a new request, so an agent sees it in New."""
    answers = {m.pk: score_of(m) for m in messages}
    answers = {pk: a for pk, a in answers.items() if a[1] is not None}
    texts = [m for m in messages if m.type == Message.Type.TEXT and m.body.strip()]
    sent = _sent_surveys([m for m in messages if m.pk in answers])
    confs = (
        {
            c.channel_id: c
            for c in ServiceSettings.objects.filter(channel_id__in={s.channel_id for s in sent})
        }
        if sent
        else {}
    )
    awaiting = {}
    if texts:
        for survey in CsatSurvey.objects.select_for_update().filter(
            contact_id__in={m.conversation.contact_id for m in texts},
            state=State.ANSWERED,
            comment="",
            comment_until__gte=min(m.created_at for m in texts),
        ):
            awaiting[(survey.contact_id, survey.channel_id)] = survey
    consumed: set[int] = set()  # the messages that were scores (comments stay for an agent)
    changed: dict[int, CsatSurvey] = {}
    for message in messages:
        conv = message.conversation
        key = (conv.contact_id, conv.channel_id)
        if message.pk in answers:
            survey_id, score = answers[message.pk]
            survey = _pick(sent, key, survey_id, message.created_at)
            if survey is None:
                continue
            sent.remove(survey)
            survey.score, survey.answered_at = score, message.created_at
            survey.state = State.ANSWERED
            conf = confs.get(survey.channel_id)
            if conf and conf.csat_comment_question.strip():
                survey.comment_until = message.created_at + COMMENT_WINDOW
                send_text_or_template(conv, text=conf.csat_comment_question, template=None, now=now)
                awaiting[key] = survey  # the comment may follow in the same batch
            changed[survey.pk] = survey
            consumed.add(message.pk)
            continue
        survey = awaiting.get(key)
        if (
            survey is not None
            and message in texts
            and survey.answered_at <= message.created_at <= survey.comment_until
        ):
            survey.comment, survey.comment_until = message.body.strip()[:4000], None
            changed[survey.pk] = survey
            awaiting.pop(key)
    if changed:  # one statement for every survey answered or commented
        CsatSurvey.objects.bulk_update(changed.values(), SAVED_FIELDS)
    others = {m.conversation_id for m in messages if m.pk not in consumed}
    return {m.conversation_id for m in messages if m.pk in consumed} - others


def _sent_surveys(answers: list[Message]) -> list[CsatSurvey]:
    """The sent surveys the answers may answer: one locking query for the whole batch."""
    if not answers:
        return []
    return list(
        CsatSurvey.objects.select_for_update()
        .filter(
            contact_id__in={m.conversation.contact_id for m in answers},
            channel_id__in={m.channel_id for m in answers},
            state=State.SENT,
        )
        .order_by("-sent_at", "-pk")
    )


def _pick(sent: list[CsatSurvey], key, survey_id, at) -> CsatSurvey | None:
    """The survey an answer answers: the one its id names, else the contact's latest sent within
    the cap (``sent`` is newest first)."""
    for survey in sent:
        if (survey.contact_id, survey.channel_id) != key:
            continue
        if survey_id is not None:
            if survey.pk == survey_id:
                return survey
        elif survey.sent_at and survey.sent_at > at - CAP:
            return survey
    return None
