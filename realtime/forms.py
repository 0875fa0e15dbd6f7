"""The inbox's bulk form: which conversations, and what to do with them."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from conversations.models import Tag

BULK_LIMIT = 200


class BulkForm(forms.Form):
    ACTIONS = [
        ("resolved", _("Resolve")),
        ("pending", _("Move to Pending")),
        ("new", _("Move to New")),
        ("assign_me", _("Assign to me")),
        ("unassign", _("Unassign")),
        ("tag", _("Add tag")),
    ]
    ids = forms.CharField(required=False)
    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS)
    tag = forms.ModelChoiceField(label=_("Tag"), queryset=Tag.objects.all(), required=False)

    def __init__(self, data=None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.user = user
        self.raw_ids = data.getlist("ids") if data is not None else []

    def clean_ids(self) -> list[int]:
        try:
            ids = sorted({int(value) for value in self.raw_ids})
        except ValueError:
            raise forms.ValidationError(_("The selection is not valid.")) from None
        if not ids:
            raise forms.ValidationError(_("Select at least one conversation."))
        if len(ids) > BULK_LIMIT:
            raise forms.ValidationError(
                _("Select at most %(n)d conversations at once.") % {"n": BULK_LIMIT}
            )
        return ids

    def clean(self):
        data = super().clean()
        if data.get("action") == "tag" and not data.get("tag"):
            self.add_error("tag", _("Choose the tag to add."))
        return data

    def chosen(self) -> tuple[str, Tag | None]:
        return self.cleaned_data["action"], self.cleaned_data.get("tag")
