"""The composer's POST actions on a conversation (docs/composer.md): attachments, a recorded
voice note, reactions, reply buttons and lists, a location, a contact card, and the pings of
the page (opened, typing). Thin: load through conversations.access (404/403), validate the
form, write through conversations.services, turn a refusal into a message (or a 400 with the
reason for a script)."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from channels_app.access import Cap
from channels_app.whatsapp import media_policy, outgoing, voice
from composer import forms, receipts
from conversations import services
from conversations.access import conversation_for
from conversations.models import Message


def _wants_text(request) -> bool:
    return bool(getattr(request, "htmx", False)) or request.headers.get("X-Requested-With") == (
        "fetch"
    )


def _back(request, conversation):
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("conversations:detail", args=[conversation.pk])
    return redirect(target)


def _refused(request, conversation, reason: str):
    if _wants_text(request):
        return HttpResponseBadRequest(reason, content_type="text/plain; charset=utf-8")
    messages.error(request, reason)
    return _back(request, conversation)


def _done(request, conversation, text: str):
    if _wants_text(request):
        return HttpResponse(text, content_type="text/plain; charset=utf-8")
    messages.success(request, text)
    return _back(request, conversation)


def _invalid(request, conversation, form):
    errors = "; ".join(f"{form.fields[f].label if f in form.fields else ''}: {e}".lstrip(": ")
                       for f, errs in form.errors.items() for e in errs)  # fmt: skip
    return _refused(request, conversation, errors or _("The form was not valid."))


def composer_action(view):
    """POST only, logged in, the conversation loaded for Cap.REPLY; DomainError and the wire
    format's refusals become a message (or a 400 with the reason)."""

    @wraps(view)
    @require_POST
    @login_required
    def wrapper(request, pk: int, **kwargs):
        try:
            conversation = conversation_for(request.user, pk, needs=Cap.REPLY)
        except PermissionDenied as exc:
            return HttpResponse(str(exc) or _("You are not allowed to do this."), status=403)
        try:
            return view(request, conversation, **kwargs)
        except services.DomainError as exc:
            return _refused(request, conversation, exc.message)
        except (outgoing.Refused, media_policy.AttachmentRefused) as exc:
            return _refused(request, conversation, exc.message)

    return wrapper


@composer_action
def attach(request, conversation):
    """Files (one WhatsApp message each; the caption goes with the first)."""
    form = forms.AttachForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    uploads = request.FILES.getlist("files")
    files = [
        services.Attachment(name=f.name, mime=f.content_type or "", size=f.size, file=f)
        for f in uploads
    ]
    sent = services.send_attachments(
        conversation,
        author=request.user,
        files=files,
        caption=form.cleaned_data["caption"],
        reply_to=form.cleaned_data["reply_to"],
    )
    return _done(
        request,
        conversation,
        ngettext("%(count)s attachment queued.", "%(count)s attachments queued.", len(sent))
        % {"count": len(sent)},
    )


@composer_action
def voice_note(request, conversation):
    """A recording of the browser's microphone, sent as a WhatsApp voice message (OGG/Opus)."""
    form = forms.VoiceForm(request.POST)
    upload = request.FILES.get("voice")
    if not form.is_valid() or upload is None:
        return _refused(request, conversation, _("No recording arrived. Record again."))
    if upload.size > media_policy.MAX_BYTES["audio"]:
        return _refused(request, conversation, _("The recording is longer than WhatsApp takes."))
    try:
        content = voice.as_voice_note(upload.read(), upload.content_type or "")
    except voice.NotOpus:
        return _refused(
            request, conversation, _("The recording is not Opus audio; it cannot be sent.")
        )
    services.send_attachments(
        conversation,
        author=request.user,
        files=[
            services.Attachment(
                name="voice.ogg", mime="audio/ogg", size=len(content), content=content, voice=True
            )
        ],
        reply_to=form.cleaned_data["reply_to"],
    )
    return _done(request, conversation, _("Voice message queued."))


@composer_action
def react(request, conversation, message_id: int):
    form = forms.ReactForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    target = conversation.messages.filter(pk=message_id).first()
    if target is None:
        return _refused(request, conversation, _("No such message in this conversation."))
    services.react(
        conversation, author=request.user, target=target, emoji=form.cleaned_data["emoji"]
    )
    return _done(request, conversation, _("Reaction queued."))


@composer_action
def buttons(request, conversation):
    form = forms.ButtonsForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    body = outgoing.buttons(
        body=form.cleaned_data["body"], options=form.options(), footer=form.cleaned_data["footer"]
    )
    services.send_structured(
        conversation, author=request.user, kind=Message.Type.INTERACTIVE, body=body,
        reply_to=form.cleaned_data["reply_to"],
    )  # fmt: skip
    return _done(request, conversation, _("Buttons queued."))


@composer_action
def list_message(request, conversation):
    form = forms.ListForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    body = outgoing.list_message(
        body=form.cleaned_data["body"], button=form.cleaned_data["button"], rows=form.row_list()
    )
    services.send_structured(
        conversation, author=request.user, kind=Message.Type.INTERACTIVE, body=body,
        reply_to=form.cleaned_data["reply_to"],
    )  # fmt: skip
    return _done(request, conversation, _("List queued."))


@composer_action
def location(request, conversation):
    form = forms.LocationForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    data = form.cleaned_data
    body = outgoing.location(
        latitude=data["latitude"], longitude=data["longitude"], name=data["name"],
        address=data["address"],
    )  # fmt: skip
    services.send_structured(
        conversation, author=request.user, kind=Message.Type.LOCATION, body=body,
        reply_to=data["reply_to"],
    )  # fmt: skip
    return _done(request, conversation, _("Location queued."))


@composer_action
def contact(request, conversation):
    form = forms.ContactForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    data = form.cleaned_data
    body = outgoing.contact_card(
        name=data["name"], phone=data["phone"], email=data["email"],
        organization=data["organization"],
    )  # fmt: skip
    services.send_structured(
        conversation, author=request.user, kind=Message.Type.CONTACTS, body=body,
        reply_to=data["reply_to"],
    )  # fmt: skip
    return _done(request, conversation, _("Contact card queued."))


@require_POST
@login_required
def seen(request, pk: int):
    """The page was opened (or came back into view): a read receipt when the channel says so."""
    conversation = conversation_for(request.user, pk, needs=Cap.REPLY)
    sent = receipts.opened(conversation)
    return HttpResponse(status=202 if sent else 204)


@require_POST
@login_required
def typing(request, pk: int):
    """An agent is writing in the reply box: the typing indicator, throttled."""
    conversation = conversation_for(request.user, pk, needs=Cap.REPLY)
    sent = receipts.typing(conversation)
    return HttpResponse(status=202 if sent else 204)
