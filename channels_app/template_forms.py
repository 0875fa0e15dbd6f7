"""The admin's form for writing a message template: header, body, footer, buttons and example
values as fields, turned into the API's ``components`` on save.

The rules Meta applies (variables, examples, lengths, buttons) are checked by
``template_services.check_components`` on the components this form builds, so the form, a
submission and the onboarding step refuse the same things with the same sentences.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from channels_app import template_services
from channels_app.models import MessageTemplate

BUTTON_ROWS = template_services.MAX_BUTTONS
# The numbers in the help texts are Meta's limits as template_services checks them.
LIMITS = {
    "header": template_services.MAX_HEADER,
    "body": template_services.MAX_BODY,
    "footer": template_services.MAX_FOOTER,
    "buttons": template_services.MAX_BUTTONS,
    "urls": template_services.BUTTON_LIMITS["URL"],
    "phones": template_services.BUTTON_LIMITS["PHONE_NUMBER"],
    "codes": template_services.BUTTON_LIMITS["COPY_CODE"],
}


def _with_limits(text) -> str:
    """A lazy help text whose ``%(header)d``-style numbers come from ``LIMITS``."""
    return lazy(lambda: str(text) % LIMITS, str)()

BUTTON_KINDS = [
    ("", "—"),
    ("QUICK_REPLY", _("Quick reply")),
    ("URL", _("Web address")),
    ("PHONE_NUMBER", _("Phone call")),
    ("COPY_CODE", _("Copy code")),
]
# Per row: kind, text, address or number, example (the URL's variable, or the code).
ROW_FIELDS = 4


class ButtonsWidget(forms.MultiWidget):
    """Up to ten button rows: kind, text, web address or phone number, example value."""

    template_name = "desk/widgets/template_buttons.html"

    def __init__(self, attrs=None):
        widgets = []
        for _row in range(BUTTON_ROWS):
            widgets += [
                forms.Select(choices=BUTTON_KINDS),
                forms.TextInput(attrs={"maxlength": template_services.MAX_BUTTON_TEXT}),
                forms.TextInput(attrs={"size": 32}),
                forms.TextInput(attrs={"size": 24}),
            ]
        super().__init__(widgets, attrs)

    def decompress(self, value):
        values: list = []
        for button in (value or [])[:BUTTON_ROWS]:
            kind = str(button.get("type", "")).upper()
            example = button.get("example")
            if isinstance(example, list):
                example = example[0] if example else ""
            target = button.get("url") or button.get("phone_number") or ""
            values += [kind, button.get("text", ""), target, example or ""]
        return values + [None] * (BUTTON_ROWS * ROW_FIELDS - len(values))

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        subwidgets = context["widget"]["subwidgets"]
        context["widget"]["rows"] = [
            subwidgets[i : i + ROW_FIELDS] for i in range(0, len(subwidgets), ROW_FIELDS)
        ]
        context["widget"]["headings"] = [
            _("Kind"),
            _("Text"),
            _("Web address or phone number"),
            _("Example (address with its value, or the code)"),
        ]
        return context


class ButtonsField(forms.MultiValueField):
    """The rows as the API's button objects; empty rows are dropped."""

    widget = ButtonsWidget

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        fields = []
        for _row in range(BUTTON_ROWS):
            fields += [
                forms.ChoiceField(choices=BUTTON_KINDS, required=False),
                forms.CharField(required=False),
                forms.CharField(required=False),
                forms.CharField(required=False),
            ]
        super().__init__(fields, require_all_fields=False, **kwargs)

    def compress(self, data_list):
        buttons = []
        for i in range(0, len(data_list or []), ROW_FIELDS):
            kind, text, target, example = (str(v or "").strip() for v in data_list[i : i + 4])
            if not (kind or text or target or example):
                continue
            button: dict = {"type": kind or "QUICK_REPLY"}
            if button["type"] != "COPY_CODE":
                button["text"] = text
            if button["type"] == "URL":
                button["url"] = target
                if example:
                    button["example"] = [example]
            elif button["type"] == "PHONE_NUMBER":
                button["phone_number"] = target
            elif button["type"] == "COPY_CODE":
                button["example"] = example
            buttons.append(button)
        return buttons


class TemplateDraftForm(forms.ModelForm):
    """A draft template, written part by part; ``components`` is built from the parts."""

    header = forms.CharField(
        label=_("Header"),
        required=False,
        max_length=template_services.MAX_HEADER,
        help_text=_with_limits(
            _("Optional title line, at most %(header)d characters, at most one variable {{1}}.")
        ),
    )
    header_example = forms.CharField(
        label=_("Header example"),
        required=False,
        help_text=_("An example value for the header's variable, if it has one."),
    )
    body = forms.CharField(
        label=_("Body"),
        widget=forms.Textarea(attrs={"rows": 5, "cols": 70}),
        help_text=_with_limits(
            _(
                "At most %(body)d characters. Variables are written {{1}}, {{2}}, … numbered "
                "without gaps; the text may not start or end with one, and two may not stand "
                "side by side."
            )
        ),
    )
    body_examples = forms.CharField(
        label=_("Example values"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text=_(
            "One line per variable of the body, in order: what Meta's reviewers read instead "
            "of {{1}}, {{2}}, …"
        ),
    )
    footer = forms.CharField(
        label=_("Footer"),
        required=False,
        max_length=template_services.MAX_FOOTER,
        help_text=_with_limits(
            _("Optional small print, at most %(footer)d characters, no variables.")
        ),
    )
    buttons = ButtonsField(
        label=_("Buttons"),
        help_text=_with_limits(
            _(
                "At most %(buttons)d: quick replies (together), up to %(urls)d web addresses "
                "(which may end with {{1}}, then with an example address), %(phones)d phone "
                "number, %(codes)d copy-code button."
            )
        ),
    )

    PARTS = ("header", "header_example", "body", "body_examples", "footer", "buttons")

    class Meta:
        model = MessageTemplate
        fields = ("channel", "name", "language", "category")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            parts = template_services.parts_from_components(self.instance.components)
            parts["body_examples"] = "\n".join(parts["body_examples"])
            for key, value in parts.items():
                self.initial.setdefault(key, value)

    def clean(self):
        data = super().clean()
        if any(part not in data for part in self.PARTS if part in self.fields):
            return data  # a part is already in error; its own message says why
        examples = [line.strip() for line in (data.get("body_examples") or "").splitlines()]
        self.instance.components = template_services.components_from_parts(
            header=data.get("header", ""),
            header_example=data.get("header_example", ""),
            body=data.get("body", ""),
            body_examples=[e for e in examples if e],
            footer=data.get("footer", ""),
            buttons=data.get("buttons") or [],
        )
        return data

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        # The same rules as a submission (template_services.validate_draft), on each field.
        try:
            template_services.validate_draft(self.instance)
        except ValidationError as error:
            for key, messages in error.message_dict.items():
                for message in messages:
                    self.add_error(key if key in self.fields else None, message)
