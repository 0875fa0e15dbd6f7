"""The reports' pre-aggregates, written only by ``reports.tallies`` (docs/reports.md)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel
from conversations.models import Message


class MessageTally(models.Model):
    """Messages counted per channel, UTC hour, author, direction and outside-window flag.

    A pre-aggregate for the reports (a million messages become a few thousand rows), written
    only by ``reports.tallies``: the periodic roll-up recomputes whole past hours up to
    the watermark (``TallyWatermark``), never the message path. A day in any time zone
    with a whole-hour offset is a whole number of these hours; other zones fall back to
    counting the messages themselves. ``author_key`` is the author's id, 0 for none (a unique
    key cannot hold NULL on every backend), and not a foreign key, so deleting a user never
    rewrites the counts.
    """

    # Indexed through the unique key (its first column).
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField(_("hour"))
    author_key = models.IntegerField(default=0)
    direction = models.CharField(max_length=3, choices=Message.Direction.choices)
    outside_window = models.BooleanField(default=False)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("message tally")
        verbose_name_plural = _("message tallies")
        # Moved from the conversations app with its table (migration 0001): the name stays.
        db_table = "conversations_messagetally"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "hour", "author_key", "direction", "outside_window"],
                name="message_tally_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} {self.hour:%Y-%m-%d %H}h {self.direction}: {self.count}"


class TallyWatermark(models.Model):
    """One row: ``MessageTally`` is complete for every hour before ``upto``.

    The reports add the messages from ``upto`` on, counted live. No row means nothing is
    rolled up yet (every message is counted live).
    """

    upto = models.DateTimeField(_("rolled up to"))
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        verbose_name = _("message tally watermark")
        verbose_name_plural = _("message tally watermarks")
        db_table = "conversations_tallywatermark"

    def __str__(self) -> str:
        return f"tallies up to {self.upto:%Y-%m-%d %H:%M}"


class ConversationTally(models.Model):
    """Conversations counted per channel, UTC hour (or UTC day), figure, breakdown and duration
    bucket: the pre-aggregate of every conversation figure of the reports (docs/reports.md).

    Written only by ``reports.conversation_tallies`` (the periodic roll-up and the rebuild).
    ``measure`` says which figure and which instant places the conversation in time: the
    first response by the opening hour, the resolution by the resolving hour, the business-hours
    first response and resolution likewise, reopens by the reopen's hour. ``dim``/``key`` is the
    breakdown (all; the first responder or resolving agent; a tag; a topic; the kind of
    resolution), ``bucket`` a logarithmic duration bucket (-1: no duration, e.g. unanswered), with
    the smallest and largest exact duration in it so that percentiles interpolate inside it.
    ``n_resolved`` counts the conversations that are resolved now (the tags' and topics' figure).
    Hour rows (``day`` false) hold every hour; day rows repeat them per UTC day, for the report's
    whole days.
    """

    class Measure(models.IntegerChoices):
        FIRST_RESPONSE = 1, _("first response")
        RESOLUTION = 2, _("resolution")
        FIRST_RESPONSE_BUSINESS = 3, _("first response in business hours")
        RESOLUTION_BUSINESS = 4, _("resolution in business hours")
        REOPENED = 5, _("reopened")

    class Dim(models.IntegerChoices):
        ALL = 0, _("all")
        AGENT = 1, _("agent")
        TAG = 2, _("tag")
        TOPIC = 3, _("topic")
        RESOLUTION_KIND = 4, _("resolution")

    # Indexed through the unique key (its first column).
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.BooleanField(default=False)
    start = models.DateTimeField(_("hour"))
    measure = models.PositiveSmallIntegerField(choices=Measure.choices)
    dim = models.PositiveSmallIntegerField(choices=Dim.choices, default=Dim.ALL)
    key = models.IntegerField(default=0)
    bucket = models.SmallIntegerField(default=-1)
    n = models.PositiveIntegerField(default=0)
    n_resolved = models.PositiveIntegerField(default=0)
    low = models.FloatField(null=True)
    high = models.FloatField(null=True)

    class Meta:
        verbose_name = _("conversation tally")
        verbose_name_plural = _("conversation tallies")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "day", "start", "measure", "dim", "key", "bucket"],
                name="conversation_tally_key",
            )
        ]
        # The report's reads: one figure's rows of a range of hours or days, index-only (the
        # key above, whose order suits the roll-up's deletes, would read every breakdown).
        indexes = [
            models.Index(
                fields=["channel", "measure", "dim", "day", "start"],
                include=["key", "bucket", "n", "n_resolved", "low", "high"],
                name="conversation_tally_read",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} {self.start:%Y-%m-%d %H}h m{self.measure}: {self.n}"


class CostTally(models.Model):
    """Outbound messages that carry WhatsApp's pricing block, counted per channel, UTC hour,
    author, template, pricing category and billable flag (reports/costs.py).

    Written with ``MessageTally`` by the same roll-up, for the same hours (a message's pricing
    arrives with its first status, seconds after it is sent, long before its hour is rolled
    up). ``author_key``/``template_key``: the id, 0 for none; not foreign keys.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField(_("hour"))
    author_key = models.IntegerField(default=0)
    template_key = models.IntegerField(default=0)
    category = models.CharField(max_length=40)
    billable = models.BooleanField(default=False)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("cost tally")
        verbose_name_plural = _("cost tallies")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "hour", "author_key", "template_key", "category", "billable"],
                name="cost_tally_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} {self.hour:%Y-%m-%d %H}h {self.category}: {self.count}"
