"""Routing's pages: the availability switch (POST), the live monitor (``/monitor/``) and the
snooze action. Thin: access through channels_app.access, rules in routing.presence,
routing.monitor and conversations.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from channels_app.access import Cap, capability_denied_message, require
from conversations.models import Conversation
from conversations.services import DomainError
from conversations.services import snooze as snooze_service
from routing import monitor, presence, timers
from routing.forms import AvailabilityForm, SnoozeForm


def _next(request, fallback: str = "/") -> str:
    target = request.POST.get("next") or request.headers.get("referer") or fallback
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@require_POST
@login_required
def availability(request):
    """The agent chose Available, Away or Offline (top bar); 400 for any other value."""
    form = AvailabilityForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Choose Available, Away or Offline."))
    presence.set_availability(request.user, form.cleaned_data["availability"])
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        return HttpResponse(status=204)
    return redirect(_next(request))


@require_GET
@login_required
def monitor_page(request):
    """Queues and agents of the channels the user supervises; ``?fragment=1`` is the live part
    (fetched again on a ``routing.monitor`` push, and every 15 s without the socket)."""
    rows = monitor.figures(request.user)
    if not rows:
        return render(
            request,
            "routing/denied.html",
            {"reason": capability_denied_message(Cap.MONITOR)},
            status=403,
        )
    context = {"rows": rows, "now": timezone.now()}
    if request.GET.get("fragment") or getattr(request, "htmx", False):
        return render(request, "routing/_monitor_live.html", context)
    return render(request, "routing/monitor.html", context)


@require_POST
@login_required
def snooze(request, pk: int):
    """Snooze a conversation from its page's menu (Cap.TRIAGE): 404 when the conversation or
    its channel is invisible, 403 below the role, 400 with the reason for a bad time."""
    conversation = Conversation.objects.select_related("channel").filter(pk=pk).first()
    if conversation is None:
        raise Http404(_("No such conversation."))
    require(request.user, Cap.TRIAGE, conversation.channel)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return HttpResponseBadRequest(reasons)
    now = timezone.now()
    choice = form.cleaned_data["choice"]
    if choice == "custom":
        until = form.cleaned_data["until"]
        if timezone.is_naive(until):
            until = until.replace(tzinfo=timers.user_zone(request.user))
    else:
        until = timers.until_for(choice, user=request.user, now=now)
    try:
        snooze_service.snooze(conversation, until=until, actor=request.user, now=now)
    except DomainError as exc:
        return HttpResponseBadRequest(exc.message)
    local = timezone.localtime(until, timers.user_zone(request.user))
    messages.success(
        request, _("Snoozed until %(time)s.") % {"time": local.strftime("%Y-%m-%d %H:%M")}
    )
    return redirect("conversations:detail", pk=conversation.pk)
