"""The live pages' own endpoints: "I have read this conversation" and the inbox's bulk actions.

Thin: access through conversations.access (channels_app.access underneath), every change
through the conversations services (each writes its event and announces it, so the pages update
by push), errors as messages or 4xx with a reason.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from conversations.access import conversation_for
from realtime import answers, bulk, push
from realtime.forms import BulkForm


@require_POST
@login_required
def read(request, pk: int):
    """The agent's page showed the conversation: its unread marker goes, in every open page."""
    conversation = conversation_for(request.user, pk)
    answers.mark_read(request.user, conversation)
    push.push_to_user(request.user.pk, "read", {"conversation_id": conversation.pk})
    return HttpResponse(status=204)


def _back(request):
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("conversations:inbox")
    return redirect(target)


@require_POST
@login_required
def bulk_action(request):
    """Resolve, move, tag or assign the selected conversations, each through the services with
    the capability check of the single action; the answer says how many were done and why the
    others were not."""
    form = BulkForm(request.POST, user=request.user)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    if not form.is_valid():
        reason = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        if wants_json:
            return JsonResponse({"error": reason}, status=400)
        messages.error(request, reason)
        return _back(request)
    outcome = bulk.apply(request.user, form.chosen(), form.cleaned_data["ids"])
    summary = ngettext(
        "%(n)d conversation changed.", "%(n)d conversations changed.", outcome.done
    ) % {"n": outcome.done}
    if outcome.refused:
        summary += " " + _("Not changed: %(reasons)s") % {"reasons": "; ".join(outcome.refused)}
    if wants_json:
        return JsonResponse({"done": outcome.done, "refused": outcome.refused, "message": summary})
    (messages.warning if outcome.refused else messages.success)(request, summary)
    return _back(request)
