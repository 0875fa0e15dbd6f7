"""The agent's consent action on a conversation page (automations.optout does the work)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from automations import optout
from channels_app.access import Cap
from conversations import services
from conversations.access import conversation_for
from conversations.views import handles_denial


@require_POST
@login_required
@handles_denial
def consent(request, pk: int):
    """Opt the conversation's customer out of marketing (``opted_out=1``) or back in, with a
    note; Cap.ANNOTATE on the channel (404/403 from conversation_for otherwise)."""
    conversation = conversation_for(request.user, pk, needs=Cap.ANNOTATE)
    change = optout.opt_out_by_agent if request.POST.get("opted_out") == "1" else (
        optout.opt_in_by_agent
    )
    try:
        changed = change(conversation, actor=request.user, note=request.POST.get("note", ""))
    except services.DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Saved.") if changed else _("Nothing changed."))
    return redirect("conversations:detail", pk=conversation.pk)
