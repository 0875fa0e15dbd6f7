from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app import transports
from channels_app.models import Channel, MessageTemplate


class Contact(models.Model):
    """A customer on one kind of channel, keyed by their WhatsApp ID (or BSUID when hidden)."""

    kind = models.CharField(
        _("kind"), max_length=20, choices=Channel.Kind.choices, default=Channel.Kind.WHATSAPP
    )
    # NULL rather than "" for an absent id, so the partial unique constraints skip it.
    wa_id = models.CharField(_("WhatsApp ID"), max_length=32, null=True, blank=True)  # noqa: DJ001
    bsuid = models.CharField(  # noqa: DJ001
        _("business-scoped user ID"), max_length=64, null=True, blank=True
    )
    profile_name = models.CharField(_("profile name"), max_length=255, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, help_text=_("E.164"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "wa_id"], condition=Q(wa_id__isnull=False), name="contact_wa_id"
            ),
            models.UniqueConstraint(
                fields=["kind", "bsuid"], condition=Q(bsuid__isnull=False), name="contact_bsuid"
            ),
            models.CheckConstraint(
                condition=Q(wa_id__isnull=False) | Q(bsuid__isnull=False),
                name="contact_has_an_id",
            ),
        ]

    def __str__(self) -> str:
        return self.profile_name or self.phone or self.wa_id or self.bsuid or "?"


# A tag's colour goes into a style attribute (--tag: …): only "#rrggbb", lower case, so that no
# other CSS can ride along. The admin's colour picker sends exactly that.
TAG_COLOR_PATTERN = r"^#[0-9a-f]{6}$"
TAG_COLOR_MESSAGE = _("Enter the colour as # and six hexadecimal digits, e.g. #64748b.")


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=64, unique=True)
    color = models.CharField(
        _("colour"),
        max_length=7,
        default="#64748b",
        validators=[RegexValidator(TAG_COLOR_PATTERN, TAG_COLOR_MESSAGE, code="invalid_color")],
    )

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(color__regex=TAG_COLOR_PATTERN),
                name="tag_color_is_rrggbb",
                violation_error_message=TAG_COLOR_MESSAGE,
            )
        ]

    def __str__(self) -> str:
        return self.name


class Topic(models.Model):
    name = models.CharField(_("name"), max_length=128, unique=True)
    description = models.CharField(_("description"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("topic")
        verbose_name_plural = _("topics")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        PENDING = "pending", _("Pending")
        # Out of the queues until snoozed_until (or the customer's next message): routing/snooze.
        SNOOZED = "snoozed", _("Snoozed")
        RESOLVED = "resolved", _("Resolved")

    class Resolution(models.TextChoices):
        AGENT = "agent", _("By an agent")
        AUTO_NEW = "auto_new", _("Auto-resolved from New")
        AUTO_PENDING = "auto_pending", _("Auto-resolved from Pending")
        # A CSAT answer (or its comment) that opened a conversation: resolved by the system at once.
        SURVEY_ANSWER = "survey_answer", _("Survey answer")

    class Priority(models.IntegerChoices):
        LOW = 0, _("Low")
        NORMAL = 1, _("Normal")
        HIGH = 2, _("High")
        URGENT = 3, _("Urgent")

    # Not Resolved: at most one per contact and channel. Snoozed is open but in no queue.
    OPEN = (Status.NEW, Status.PENDING, Status.SNOOZED)

    # No single-column indexes on channel, contact and assignee: the composite indexes below
    # start with them, and every index is one more write when auto-resolve moves a row.
    channel = models.ForeignKey(
        Channel,
        on_delete=models.PROTECT,
        related_name="conversations",
        verbose_name=_("channel"),
        db_index=False,
    )
    contact = models.ForeignKey(
        Contact,
        on_delete=models.PROTECT,
        related_name="conversations",
        verbose_name=_("contact"),
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
        verbose_name=_("assignee"),
        db_index=False,
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")
    topics = models.ManyToManyField(Topic, blank=True, related_name="conversations")

    opened_at = models.DateTimeField(_("opened"))
    # Drives the 24-hour window: Meta's timestamp of the customer's latest message.
    last_customer_message_at = models.DateTimeField(_("last customer message"), null=True)
    # A message in or out, or a status change. Drives the inbox order and auto-resolve.
    last_activity_at = models.DateTimeField(_("last activity"))
    first_response_at = models.DateTimeField(_("first agent reply"), null=True, blank=True)
    # Author of the first outbound message (set with first_response_at): the reports credit
    # first responses per agent without joining a million messages.
    first_responder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("first responder"),
        # No index of its own: the reports group the conversations of a range found through
        # conv_opened_report, and with one the planner walked this index over the whole table
        # instead (0.3 s at 200,000). Deleting a user (rare; accounts are deactivated) then
        # scans the table to clear it.
        db_index=False,
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    # The agent who resolved it (set with resolved_at by move_conversation; NULL when
    # auto-resolved, cleared by a reopen): the reports credit resolutions per agent without
    # joining the events.
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
        db_index=False,  # as first_responder: read through conv_resolved_report
    )
    resolution = models.CharField(
        _("resolution"), max_length=16, choices=Resolution.choices, blank=True
    )
    # Meta said the customer's WhatsApp identity changed (reinstall, new phone): the page warns
    # the agents until the conversation ends (conversations.inbound_changes).
    identity_changed_at = models.DateTimeField(_("identity changed"), null=True, blank=True)
    # Denormalised preview for the inbox list, so a page needs no per-row message query.
    last_message_preview = models.CharField(_("last message"), max_length=200, blank=True)
    # Snoozed: when it comes back into New (the wake sweep, conversations.services.snooze).
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    # The customer's oldest message the desk has not answered yet (its arrival); None when the
    # desk wrote last (or nobody wrote). Kept by the writers: inbound (ORM and inbound_sql) set it
    # when empty, an agent's reply clears it; the system's own messages answer nobody. The
    # inbox's "longest waiting first" sort reads it (queries.inbox_page).
    waiting_since = models.DateTimeField(_("customer waiting since"), null=True, blank=True)
    # Set by an agent or an automation rule (services.priority). A database default, so the raw
    # inserts (inbound_sql, bench) need not name it.
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL,
        db_default=Priority.NORMAL,
    )  # fmt: skip

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        constraints = [
            # At most one open conversation per contact and channel: concurrent inbound webhooks
            # for a new contact cannot open two.
            models.UniqueConstraint(
                fields=["channel", "contact"],
                condition=Q(status__in=["new", "pending", "snoozed"]),
                name="one_open_conversation_per_contact",
            ),
            models.CheckConstraint(
                condition=~Q(status="resolved") | Q(assignee__isnull=True),
                name="resolved_conversation_is_unassigned",
            ),
        ]
        indexes = [
            # The inbox: one queue of one or more channels, newest activity first (keyset).
            models.Index(
                fields=["channel", "status", "-last_activity_at", "-id"], name="conv_inbox"
            ),
            models.Index(fields=["status", "-last_activity_at", "-id"], name="conv_inbox_all"),
            models.Index(
                fields=["assignee", "status", "-last_activity_at", "-id"], name="conv_inbox_mine"
            ),
            # "Longest waiting first" (queries.inbox_page): a queue by waiting_since, ascending
            # (PostgreSQL puts the answered ones, NULL, last), then id; per channel and overall.
            models.Index(
                fields=["channel", "status", "waiting_since", "id"], name="conv_inbox_waiting"
            ),
            models.Index(fields=["status", "waiting_since", "id"], name="conv_inbox_waiting_all"),
            # Auto-resolve scans only open conversations by age (conversations.autoresolve).
            models.Index(
                fields=["channel", "status", "last_activity_at"],
                condition=Q(status__in=["new", "pending"]),
                name="conv_open_by_activity",
            ),
            # The wake sweep: snoozed conversations by their time (conversations.services.snooze).
            models.Index(
                fields=["snoozed_until"], condition=Q(status="snoozed"), name="conv_snoozed_due"
            ),
            # A contact's earlier conversations, shown as history.
            models.Index(fields=["contact", "-opened_at"], name="conv_contact_history"),
            # Reports: conversations opened / resolved in a range on a channel.
            # Reports: conversations resolved in a range on a channel, every figure of them
            # from the index alone on PostgreSQL.
            models.Index(
                fields=["channel", "resolved_at"],
                include=["opened_at", "resolution", "resolved_by"],
                name="conv_resolved_report",
            ),
            # Reports: conversations opened in a range on a channel; on PostgreSQL every figure
            # of them comes from the index alone (no heap visits for 200,000 rows).
            models.Index(
                fields=["channel", "opened_at"],
                include=["id", "first_response_at", "first_responder", "status"],
                name="conv_opened_report",
            ),
        ]

    def __str__(self) -> str:
        # The contact's name isolated (FSI ... PDI): its bidi controls cannot flip the rest.
        return f"#{self.pk} \u2068{self.contact}\u2069 ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    def _transport(self) -> transports.Transport:
        # By the kind of the channel or (the same) of the contact, whichever is loaded; with
        # neither, the only medium while there is one: a batch costs no query per row.
        if Conversation.channel.is_cached(self):
            return transports.for_channel(self.channel)
        if Conversation.contact.is_cached(self):
            return transports.get(self.contact.kind)
        return transports.only() or transports.for_channel(self.channel)

    def window_closes_at(self) -> datetime | None:
        return self._transport().window_closes_at(self.last_customer_message_at)

    def is_window_open(self, at: datetime, *, margin: timedelta | None = None) -> bool:
        """True while a free-form reply is allowed at ``at`` (minus a safety margin) by the
        medium's window policy (WhatsApp's: channels_app.whatsapp.window, as the emulator's)."""
        return self._transport().window_open(
            self.last_customer_message_at, at, margin=margin or timedelta(0)
        )


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", _("From the customer")
        OUTBOUND = "out", _("To the customer")

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        IMAGE = "image", _("Image")
        VIDEO = "video", _("Video")
        AUDIO = "audio", _("Audio")
        DOCUMENT = "document", _("Document")
        STICKER = "sticker", _("Sticker")
        LOCATION = "location", _("Location")
        CONTACTS = "contacts", _("Contact card")
        INTERACTIVE = "interactive", _("Interactive reply")
        BUTTON = "button", _("Button reply")
        REACTION = "reaction", _("Reaction")
        ORDER = "order", _("Order")
        SYSTEM = "system", _("System")
        TEMPLATE = "template", _("Template")
        UNSUPPORTED = "unsupported", _("Unsupported")
        # A message of a batch the parser could not read: its raw JSON is in payload["raw"]
        # (conversations.webhooks, per-message isolation).
        UNREADABLE = "unreadable", _("Unreadable message")

    class Via(models.TextChoices):
        DESK = "", _("The desk")
        BUSINESS_APP = "app", _("The WhatsApp Business app")
        HISTORY = "history", _("Imported history")

    class Delivery(models.TextChoices):
        RECEIVED = "received", _("Received")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")

    # Provider callbacks may arrive out of order: a state only ever moves to a higher rank.
    DELIVERY_RANK = {
        Delivery.RECEIVED: 0,
        Delivery.QUEUED: 1,
        Delivery.SENDING: 2,
        Delivery.SENT: 3,
        Delivery.FAILED: 4,
        Delivery.DELIVERED: 5,
        Delivery.READ: 6,
    }

    # Indexed through msg_thread and msg_channel_time (their first column), not on their own.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    # Denormalised from the conversation: provider ids are unique per channel.
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices, default=Type.TEXT)
    body = models.TextField(_("text"), blank=True)
    # Type-specific details: media id/mime/caption, location, contact cards, template parameters.
    payload = models.JSONField(_("details"), default=dict, blank=True)
    # NULL until the provider accepted it; the unique constraint skips NULLs.
    provider_message_id = models.CharField(  # noqa: DJ001
        _("provider message ID"), max_length=128, null=True, blank=True
    )
    reply_to_provider_id = models.CharField(max_length=128, blank=True)
    delivery = models.CharField(
        _("delivery"), max_length=16, choices=Delivery.choices, default=Delivery.RECEIVED
    )
    failure_code = models.IntegerField(_("error code"), null=True, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sent_messages",
    )
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # True for a template that had to be used because the 24-hour window was closed (reports).
    sent_outside_window = models.BooleanField(default=False)
    # Where the message came from besides the desk and the customer: an echo of what the business
    # wrote in the WhatsApp Business app, or an imported past chat (coexistence). A database
    # default, so the raw inserts (inbound_sql, bench) need not name it.
    via = models.CharField(
        _("via"), max_length=8, choices=Via.choices, blank=True, default="", db_default=""
    )
    # Edits and deletions (conversations.message_changes): the earlier versions are kept in
    # payload["versions"]; a deleted message keeps its text for Supervisors until erased_at.
    edited_at = models.DateTimeField(_("edited"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("deleted by the sender"), null=True, blank=True)
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Inbound media: when the media sweep may try a failed download again (conversations.media;
    # NULL: not waiting for a retry).
    media_due_at = models.DateTimeField(_("media download due"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"))
    # Outbound: when an agent last sent a failed reply again (conversations.outbound.retry);
    # from then on it is the instant the reply counts from (first response in the reports).
    retried_at = models.DateTimeField(_("retried"), null=True, blank=True)
    # Inbound: Meta's timestamp. Outbound: when the provider accepted it.
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"],
                condition=Q(provider_message_id__isnull=False),
                name="message_provider_id_unique_per_channel",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"], name="msg_thread"),
            # The outbound sweep looks for replies stuck in queued.
            models.Index(
                fields=["created_at"],
                condition=Q(delivery__in=["queued", "sending"]),
                name="msg_outbound_pending",
            ),
            # Reports: messages in and out on a channel in a date range.
            models.Index(fields=["channel", "created_at"], name="msg_channel_time"),
            # The erase job: deleted messages whose text is still kept.
            models.Index(
                fields=["revoked_at"],
                condition=Q(revoked_at__isnull=False, erased_at__isnull=True),
                name="msg_revoked_to_erase",
            ),
            # The media sweep: media neither downloaded nor failed (conversations.media).
            models.Index(
                fields=["created_at"],
                condition=(Q(direction="in") | ~Q(via=""))
                & Q(
                    type__in=["image", "video", "audio", "document", "sticker"],
                    payload__has_key="media_id",
                )
                & ~Q(payload__has_key="file")
                & ~Q(payload__has_key="download_error"),
                name="msg_media_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()}: {self.body[:40]}"

    @classmethod
    def rank(cls, state: str) -> int:
        return cls.DELIVERY_RANK.get(state, 0)


class ParkedChange(models.Model):
    """An edit or deletion that arrived before the message it changes (webhooks come in any
    order); applied, then removed, when that message is stored (conversations.message_changes).
    """

    class Kind(models.TextChoices):
        EDIT = "edit", _("Edit")
        REVOKE = "revoke", _("Deletion")

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The change's own wamid: a redelivery parks nothing twice.
    provider_message_id = models.CharField(max_length=128)
    # The wamid of the message it changes; looked up when that message arrives.
    target_provider_id = models.CharField(max_length=128)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    data = models.JSONField(default=dict, blank=True)
    sent_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("parked message change")
        verbose_name_plural = _("parked message changes")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"], name="parked_change_unique"
            )
        ]
        indexes = [models.Index(fields=["channel", "target_provider_id"], name="parked_target")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.target_provider_id}"


class Note(models.Model):
    """An internal note on a conversation; never sent to the customer."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField(_("note"))
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        indexes = [models.Index(fields=["conversation", "created_at"], name="note_thread")]

    def __str__(self) -> str:
        return self.body[:40]


class Event(models.Model):
    """The append-only history of a conversation: who changed what, when. Actor NULL = system."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("Opened")
        STATUS_CHANGED = "status_changed", _("Status changed")
        AUTO_RESOLVED = "auto_resolved", _("Auto-resolved")
        ASSIGNED = "assigned", _("Assigned")
        UNASSIGNED = "unassigned", _("Unassigned")
        TAG_ADDED = "tag_added", _("Tag added")
        TAG_REMOVED = "tag_removed", _("Tag removed")
        TOPIC_ADDED = "topic_added", _("Topic added")
        TOPIC_REMOVED = "topic_removed", _("Topic removed")
        NOTE_ADDED = "note_added", _("Note added")
        REPLY_FAILED = "reply_failed", _("Reply failed")
        REPLY_RETRIED = "reply_retried", _("Reply sent again")
        NUMBER_CHANGED = "number_changed", _("Customer changed number")
        IDENTITY_CHANGED = "identity_changed", _("Customer identity changed")

    # Indexed through event_thread (its first column).
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="event_thread"),
            models.Index(fields=["kind", "created_at"], name="event_kind_time"),
            # Reports: reopens in a range (a few per thousand events).
            models.Index(
                fields=["created_at"],
                condition=Q(kind="status_changed", data__reopened=True),
                name="event_reopened",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor or 'system'}"


class InboundPayload(models.Model):
    """A large signed webhook body, stored as received and applied by the worker in chunks.

    The webhook answers at once; ``conversations.inbound_payloads`` applies ``progress`` events
    at a time, each chunk in its own short transaction that also advances ``progress``, so a
    worker that dies half-way is resumed where it stopped (and inbound messages are unique per
    provider id anyway). See docs/whatsapp.md.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        PROCESSING = "processing", _("Being applied")
        DONE = "done", _("Applied")

    body = models.BinaryField(_("raw body"))
    # The medium whose transport parses the body (channels_app.transports; Channel.Kind).
    kind = models.CharField(
        _("kind"), max_length=20, choices=Channel.Kind.choices, default=Channel.Kind.WHATSAPP
    )
    received_at = models.DateTimeField(_("received"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    # Events of the parsed body applied so far, in payload order; the total once parsed.
    progress = models.PositiveIntegerField(_("events applied"), default=0)
    total = models.PositiveIntegerField(_("events"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Set when a worker claims it and at every chunk: a stale one means the worker died.
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    processed_at = models.DateTimeField(_("applied"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbound webhook payload")
        verbose_name_plural = _("inbound webhook payloads")
        indexes = [
            # The sweep: payloads not applied yet (a handful at most, the rest are done).
            models.Index(
                fields=["received_at"],
                condition=~Q(status="done"),
                name="inbound_payload_open",
            ),
            models.Index(fields=["processed_at"], name="inbound_payload_processed"),
        ]

    def __str__(self) -> str:
        return f"webhook payload {self.pk} ({self.status}, {self.progress}/{self.total or '?'})"
