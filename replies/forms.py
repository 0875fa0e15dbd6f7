"""The saved-reply forms: an agent's own replies (/saved-replies/) and the admin's team and
global ones. Both validate through replies.services, so the rules live in one place."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from replies import queries, services
from replies.models import SavedReply

FIELDS = ["title", "shortcut", "body", "language", "template", "template_params"]


class TemplateChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.language}) · {obj.channel.display_name}"


class _ValidatedByService(forms.ModelForm):
    """Runs services.validate_saved_reply after the model form's own cleaning."""

    actor = None

    def clean_shortcut(self):
        # "/Refund" as typed in the reply box is the shortcut "refund".
        return self.cleaned_data["shortcut"].strip().lstrip("/").lower()

    def validate_unique(self):
        # The service checks the shortcut's uniqueness and names the field (the model's
        # conditional constraints would only give a form-wide error).
        pass

    def _post_clean(self):
        super()._post_clean()
        try:
            services.validate_saved_reply(self.instance, actor=self.actor)
        except ValidationError as error:
            # Fields the form already found wrong keep their own message, once.
            fresh: dict[str, list[str]] = {}
            for field, messages in error.message_dict.items():
                if field not in self.errors:
                    target = field if field in self.fields else NON_FIELD_ERRORS
                    fresh.setdefault(target, []).extend(messages)
            if fresh:
                self._update_errors(ValidationError(fresh))


class SavedReplyForm(_ValidatedByService):
    """An agent's personal saved reply; the owner and scope come from the request, not the form."""

    class Meta:
        model = SavedReply
        fields = FIELDS
        field_classes = {"template": TemplateChoiceField}
        widgets = {
            "body": forms.Textarea(attrs={"rows": 6, "maxlength": 4096}),
            "template_params": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = owner
        self.instance.scope = SavedReply.Scope.PERSONAL
        self.instance.owner = owner
        self.fields["template"].queryset = queries.template_choices(
            owner, scope=SavedReply.Scope.PERSONAL
        )
        self.fields["template"].empty_label = _("None")


class AdminSavedReplyForm(_ValidatedByService):
    """A team or global saved reply, in the admin (personal ones belong to their owners)."""

    scope = forms.ChoiceField(
        label=_("scope"),
        choices=[
            (SavedReply.Scope.GLOBAL, SavedReply.Scope.GLOBAL.label),
            (SavedReply.Scope.TEAM, SavedReply.Scope.TEAM.label),
        ],
        help_text=_(
            "Global: everyone with access to a channel. Team: the team's members. Agents keep "
            "their personal replies on their own page."
        ),
    )

    class Meta:
        model = SavedReply
        fields = ["title", "shortcut", "body", "scope", "team", "language", "template",
                  "template_params"]  # fmt: skip
        field_classes = {"template": TemplateChoiceField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = queries.template_choices(
            None, scope=SavedReply.Scope.GLOBAL
        )
