"""Forms of the agent pages. They validate input only; every change goes through services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from conversations.models import Conversation, Tag, Topic
from conversations.queries import ASSIGNEE_ME, ASSIGNEE_NONE, SORT_ACTIVITY, SORT_WAITING

MAX_SEARCH = 100


class InboxFilterForm(forms.Form):
    """The inbox filters, read from the query string. Field names are the URL contract."""

    status = forms.ChoiceField(
        label=_("Queue"), choices=Conversation.Status.choices, required=False
    )
    channel = forms.TypedChoiceField(label=_("Channel"), coerce=int, required=False, choices=())
    assignee = forms.ChoiceField(
        label=_("Assignee"),
        required=False,
        choices=[("", _("Anyone")), (ASSIGNEE_ME, _("Me")), (ASSIGNEE_NONE, _("Unassigned"))],
    )
    tag = forms.ModelChoiceField(
        label=_("Tag"), queryset=Tag.objects.none(), required=False, empty_label=_("Any tag")
    )
    topic = forms.ModelChoiceField(
        label=_("Topic"),
        queryset=Topic.objects.none(),
        required=False,
        empty_label=_("Any topic"),
    )
    q = forms.CharField(label=_("Search"), required=False, max_length=MAX_SEARCH, strip=True)
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[
            (SORT_ACTIVITY, _("Newest activity")),
            (SORT_WAITING, _("Longest waiting first")),
        ],
    )

    def __init__(self, data, *, channels, tags, topics):
        super().__init__(data)
        self.channels = {c.pk: c for c in channels}
        self.fields["channel"].choices = [("", _("All channels"))] + [
            (c.pk, c.display_name) for c in channels
        ]
        # The lists were loaded once by the view; validating against them costs no query.
        self.tags = {t.pk: t for t in tags}
        self.topics = {t.pk: t for t in topics}
        self.fields["tag"] = _PreloadedChoiceField(
            self.tags, label=_("Tag"), empty_label=_("Any tag")
        )
        self.fields["topic"] = _PreloadedChoiceField(
            self.topics, label=_("Topic"), empty_label=_("Any topic")
        )

    def clean_channel(self):
        pk = self.cleaned_data.get("channel")
        return self.channels.get(pk) if pk not in (None, "") else None


class _PreloadedChoiceField(forms.TypedChoiceField):
    """A choice among already-loaded objects; cleans to the object itself."""

    def __init__(self, objects: dict, *, label, empty_label):
        self.objects = objects
        super().__init__(
            label=label,
            required=False,
            coerce=int,
            empty_value=None,
            choices=[("", empty_label)] + [(pk, obj.name) for pk, obj in objects.items()],
        )

    def clean(self, value):
        pk = super().clean(value)
        return None if pk is None else self.objects[pk]


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Reply"),
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 4096}),
        strip=True,
    )
    # The wamid of the message the reply quotes ("Reply" on a message; docs/composer.md).
    reply_to = forms.RegexField(r"^[A-Za-z0-9._=+/\-]{1,128}$", required=False, max_length=128)


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Internal note"), widget=forms.Textarea(attrs={"rows": 2}), strip=True
    )


class MoveForm(forms.Form):
    to = forms.ChoiceField(choices=Conversation.Status.choices)


class LabelForm(forms.Form):
    """Add or remove one tag or topic (the id of an existing one)."""

    action = forms.ChoiceField(choices=[("add", "add"), ("remove", "remove")])
    id = forms.IntegerField(min_value=1)


class AssignForm(forms.Form):
    """``assignee`` is a user id, "me", or empty to unassign."""

    assignee = forms.CharField(required=False)

    def clean_assignee(self):
        value = self.cleaned_data["assignee"].strip()
        if value in ("", ASSIGNEE_ME):
            return value
        if not value.isdigit():
            raise forms.ValidationError(_("Pick a user from the list."))
        return int(value)


class TemplateForm(forms.Form):
    """The template id; its parameters arrive as ``param_1`` … ``param_n`` (the service checks)."""

    template = forms.IntegerField(min_value=1)

    def params(self, count_hint: int = 20) -> list[str]:
        values = []
        for index in range(1, count_hint + 1):
            key = f"param_{index}"
            if key not in self.data:
                break
            values.append(str(self.data[key]))
        return values
