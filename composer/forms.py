"""Forms of the composer's tools. They read the request only; the limits are checked where the
message is built (channels_app.whatsapp.outgoing, media_policy) through the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_app.whatsapp import media_policy, outgoing

WAMID = r"^[A-Za-z0-9._=+/\-]{1,128}$"


class QuoteField(forms.RegexField):
    """The wamid of the message a reply quotes (empty: no quote)."""

    def __init__(self, **kwargs):
        super().__init__(WAMID, required=False, max_length=128, **kwargs)


class AttachForm(forms.Form):
    caption = forms.CharField(
        label=_("Caption"), required=False, max_length=media_policy.MAX_CAPTION, strip=True
    )
    reply_to = QuoteField()


class VoiceForm(forms.Form):
    reply_to = QuoteField()


class ReactForm(forms.Form):
    emoji = forms.CharField(label=_("Reaction"), required=False, max_length=outgoing.MAX_EMOJI)


class ButtonsForm(forms.Form):
    body = forms.CharField(label=_("Question"), max_length=outgoing.MAX_INTERACTIVE_BODY)
    button_1 = forms.CharField(label=_("Button 1"), max_length=outgoing.MAX_BUTTON_TITLE)
    button_2 = forms.CharField(
        label=_("Button 2"), required=False, max_length=outgoing.MAX_BUTTON_TITLE
    )
    button_3 = forms.CharField(
        label=_("Button 3"), required=False, max_length=outgoing.MAX_BUTTON_TITLE
    )
    footer = forms.CharField(label=_("Footer"), required=False, max_length=outgoing.MAX_FOOTER)
    reply_to = QuoteField()

    def options(self) -> list[tuple[str, str]]:
        titles = [self.cleaned_data.get(f"button_{i}") or "" for i in (1, 2, 3)]
        # The id the customer's answer carries back: the button's position and title.
        return [(f"btn-{i}-{t[:40]}", t) for i, t in enumerate(titles, 1) if t]


class ListForm(forms.Form):
    body = forms.CharField(label=_("Question"), max_length=outgoing.MAX_INTERACTIVE_BODY)
    button = forms.CharField(label=_("List button"), max_length=outgoing.MAX_LIST_BUTTON)
    rows = forms.CharField(
        label=_("Rows"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One row a line (at most 10): a title, optionally “|” and a description."),
    )
    reply_to = QuoteField()

    def row_list(self) -> list[tuple[str, str, str]]:
        lines = [line for line in self.cleaned_data["rows"].splitlines() if line.strip()]
        rows = []
        for index, line in enumerate(lines, 1):
            title, _sep, description = line.partition("|")
            rows.append((f"row-{index}", title.strip(), description.strip()))
        return rows


class LocationForm(forms.Form):
    latitude = forms.FloatField(label=_("Latitude"), min_value=-90, max_value=90)
    longitude = forms.FloatField(label=_("Longitude"), min_value=-180, max_value=180)
    name = forms.CharField(label=_("Name of the place"), required=False, max_length=1000)
    address = forms.CharField(label=_("Address"), required=False, max_length=1000)
    reply_to = QuoteField()


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=outgoing.MAX_CONTACT_FIELD)
    phone = forms.CharField(label=_("Phone"), required=False, max_length=40)
    email = forms.EmailField(label=_("Email"), required=False)
    organization = forms.CharField(
        label=_("Organisation"), required=False, max_length=outgoing.MAX_CONTACT_FIELD
    )
    reply_to = QuoteField()
