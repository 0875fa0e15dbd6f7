"""The automation rule form of the admin: what a rule may hold, checked before it is saved."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from automations.conditions import pattern_problem
from automations.models import AutomationRule
from conversations import services
from replies.models import SavedReply

ACTION_FIELDS = ("add_tag", "add_topic", "route_to_team", "set_priority", "send_saved_reply",
                 "send_template", "resolve")  # fmt: skip

NO_ACTION = _("Choose at least one action: a rule without one does nothing.")
PERSONAL_REPLY = _("Choose a team or global saved reply; personal ones belong to their owner.")
OTHER_CHANNEL = _("This template belongs to another channel.")
NOT_SENDABLE = _("This template is not approved; the rule could not send it.")


class AutomationRuleForm(forms.ModelForm):
    class Meta:
        model = AutomationRule
        fields = ("channel", "name", "position", "is_active", "stop_processing",
                  "text_contains", "text_pattern", "button_payload", "message_type",
                  "business_hours", "conversation_is", *ACTION_FIELDS, "template_params")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "send_saved_reply" in self.fields:
            self.fields["send_saved_reply"].queryset = SavedReply.objects.exclude(
                scope=SavedReply.Scope.PERSONAL
            )

    def clean_text_pattern(self):
        pattern = self.cleaned_data.get("text_pattern", "")
        problem = pattern_problem(pattern) if pattern else None
        if problem:
            raise forms.ValidationError(problem)
        return pattern

    def clean(self):
        data = super().clean()
        if not any(data.get(f) not in (None, "", False) for f in ACTION_FIELDS):
            raise forms.ValidationError(NO_ACTION)
        reply = data.get("send_saved_reply")
        if reply is not None and reply.scope == SavedReply.Scope.PERSONAL:
            self.add_error("send_saved_reply", PERSONAL_REPLY)
        template, channel = data.get("send_template"), data.get("channel")
        if template is not None:
            if channel is not None and template.channel_id != channel.pk:
                self.add_error("send_template", OTHER_CHANNEL)
            elif not template.is_sendable:
                self.add_error("send_template", NOT_SENDABLE)
            else:
                count = services.template_placeholder_count(template)
                params = [p for p in (data.get("template_params") or "").splitlines() if p.strip()]
                if len(params) != count:
                    self.add_error("template_params", ngettext(
                        "This template needs %(count)d parameter, one per line.",
                        "This template needs %(count)d parameters, one per line.", count,
                    ) % {"count": count})  # fmt: skip
        return data
