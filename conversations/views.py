"""The agent pages: the inbox and the conversation page, plus their POST actions.

Thin callers: they load through conversations.access (404/403), read through
conversations.queries, change through conversations.services, and turn a DomainError into a
message (or a 400 for htmx requests).
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from channels_app.access import Cap, can
from channels_app.models import MessageTemplate
from conversations import forms, media_views, partitions, queries, send_policy, services
from conversations.access import conversation_for
from conversations.models import Conversation, Message, Tag, Topic
from conversations.services import outbound


def _denied(request, exc: PermissionDenied) -> HttpResponse:
    return render(
        request,
        "conversations/denied.html",
        {"reason": str(exc) or _("You are not allowed to do this.")},
        status=403,
    )


def handles_denial(view):
    """Render PermissionDenied as a 403 page that says why (Django's default page does not)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return _denied(request, exc)

    return wrapper


# --- the inbox ---------------------------------------------------------------------------------


@require_GET
@login_required
def inbox(request):
    """The three queues, filtered; ``?fragment=list`` (or an htmx request) renders the live part."""
    channels = queries.inbox_channels(request.user)
    tags, topics = queries.all_tags(), queries.all_topics()
    form = forms.InboxFilterForm(request.GET, channels=channels, tags=tags, topics=topics)
    form.is_valid()  # invalid fields are dropped (and shown), the rest still filters
    data = form.cleaned_data
    status = data.get("status") or Conversation.Status.NEW
    filters = queries.InboxFilters(
        status=status,
        channel=data.get("channel"),
        assignee=data.get("assignee") or "",
        tag=data.get("tag"),
        topic=data.get("topic"),
        q=data.get("q") or "",
    )
    base = queries.inbox_for(request.user, filters, channels=channels)
    # A search is bounded by its matches: one exact pass beats three capped ones there.
    if filters.q:
        cap = None
    elif queries.sparse_filter(filters):
        cap = queries.FILTERED_COUNT_CAP
    else:
        cap = queries.COUNT_CAP
    counts = queries.queue_counts(base, cap=cap)
    sort = data.get("sort") or queries.SORT_ACTIVITY
    cursor = queries.decode_cursor(request.GET.get("cursor"), sort)
    page = queries.inbox_page(
        base,
        status=status,
        cursor=cursor,
        size=settings.INBOX_PAGE_SIZE,
        channels=channels,
        per_channel=queries.per_channel(request.user, filters, channels, sort=sort),
        sort=sort,
    )

    params = request.GET.copy()
    for key in ("cursor", "fragment"):
        params.pop(key, None)
    queue_links = []
    for value, label in Conversation.Status.choices:
        link = params.copy()
        link["status"] = value
        queue_links.append(
            {
                "value": value,
                "label": label,
                "count": counts[value],
                "capped": cap is not None and counts[value] >= cap,
                "query": link.urlencode(),
            }
        )
    older_query = None
    if page.next_cursor is not None:
        older = params.copy()
        older["status"] = status
        older["cursor"] = page.next_cursor.encode()
        older_query = older.urlencode()
    newest = params.copy()
    newest["status"] = status
    live = newest.copy()
    if cursor is not None:
        live["cursor"] = cursor.encode()
    live["fragment"] = "list"

    context = {
        "form": form,
        "channels": channels,
        "filters": filters,
        # The filters beside the search, for the folded form's summary on a phone.
        "filters_set": sum(
            1 for v in (filters.channel, filters.assignee, filters.tag, filters.topic) if v
        ),
        # Under a search the tabs count its matches: all of them, to point at other queues.
        "matches": sum(counts.values()) if filters.q else None,
        "status": status,
        "queues": queue_links,
        "page": page,
        "older_query": older_query,
        "first_page_query": live.urlencode() if cursor is None else None,
        "live_query": live.urlencode(),
        "newest_query": newest.urlencode(),
        "sort": sort,
        "now": timezone.now(),
    }
    if request.GET.get("fragment") == "list" or getattr(request, "htmx", False):
        return render(request, "conversations/_inbox_live.html", context)
    return render(request, "conversations/inbox.html", context)


# --- the conversation page ---------------------------------------------------------------------


def _thread_for(request, conversation: Conversation) -> queries.ThreadPage:
    """The page of the thread the query string asks for; a bad cursor means the latest page."""
    size = settings.THREAD_PAGE_SIZE
    get = request.GET
    around = get.get("around", "")
    if around.isdigit():
        position = queries.message_position(conversation, int(around))
        if position is not None:
            return queries.thread_page(conversation, size=size, after=position, include=True)
    after = queries.ThreadCursor.decode(get.get("after"))
    if after is not None:
        return queries.thread_page(conversation, size=size, after=after)
    before = queries.ThreadCursor.decode(get.get("before"))
    return queries.thread_page(conversation, size=size, before=before)


def _thread_context(conversation: Conversation, thread: queries.ThreadPage, user) -> dict:
    base = reverse("conversations:detail", args=[conversation.pk])
    return {
        "conversation": conversation,
        "thread": thread,
        # What a customer deleted stays readable for Supervisors until it is erased (issue 21).
        "show_deleted": can(user, Cap.SEE_DELETED, conversation.channel),
        # Failed replies offer a Retry button to those who can reply.
        "can_reply": can(user, Cap.REPLY, conversation.channel),
        "inline_types": media_views.INLINE_TYPES,
        "attachment_base": base + "messages/",
        "earlier_url": (
            f"{base}?{urlencode({'before': thread.earlier.encode()})}" if thread.earlier else None
        ),
        "later_url": (
            f"{base}?{urlencode({'after': thread.later.encode()})}" if thread.later else None
        ),
    }


@require_GET
@login_required
@handles_denial
def detail(request, pk: int):
    """One conversation: a page of the thread (the latest by default; ``before``/``after``
    cursors and ``around=<message id>`` reach older ones), the history, and the forms the
    user's role allows. ``?fragment=thread`` (or htmx) renders only the thread page."""
    conversation = conversation_for(request.user, pk)
    thread = _thread_for(request, conversation)
    if request.GET.get("fragment") == "thread" or getattr(request, "htmx", False):
        context = _thread_context(conversation, thread, request.user)
        return render(request, "conversations/_thread.html", context)
    channel = conversation.channel
    now = timezone.now()
    window_open = conversation.is_window_open(now, margin=settings.WHATSAPP_WINDOW_SAFETY_MARGIN)
    can_reply = can(request.user, Cap.REPLY, channel)
    can_assign = can(request.user, Cap.ASSIGN, channel)
    templates = (
        queries.sendable_templates(channel)
        if can_reply and not window_open and conversation.is_open
        else []
    )
    for template in templates:
        # Why this customer may not get it (the marketing opt-out), shown on the picker.
        template.refusal = send_policy.template_refusal(conversation, template)
    tags, topics = queries.labels_for(conversation)
    full_history = request.GET.get("history") == "all"
    events, more_events = queries.events(
        conversation, limit=queries.EVENT_LIMIT if full_history else queries.EVENT_PAGE
    )
    context = {
        **_thread_context(conversation, thread, request.user),
        "channel": channel,
        "contact": conversation.contact,
        "events": events,
        "more_events": more_events,
        "full_history": full_history,
        "history": queries.contact_history(conversation, request.user),
        # Split here so that each list in the template is one plain loop, without a test per
        # label (the chips show the conversation's labels, the pickers the others).
        "tags_on": [t for t in tags if t.on],
        "tags_off": [t for t in tags if not t.on],
        "topics_on": [t for t in topics if t.on],
        "topics_off": [t for t in topics if not t.on],
        "can_assign": can_assign,
        "assignable": (
            queries.assignable_users(channel) if can_assign and conversation.is_open else []
        ),
        "can_reply": can_reply,
        "can_triage": can(request.user, Cap.TRIAGE, channel),
        "can_annotate": can(request.user, Cap.ANNOTATE, channel),
        "window_open": window_open,
        "window_closes_at": conversation.window_closes_at(),
        "templates": templates,
        "reply_form": forms.ReplyForm(),
        "note_form": forms.NoteForm(),
        "statuses": Conversation.Status.choices,
        "now": now,
    }
    return render(request, "conversations/detail.html", context)


# --- POST actions ------------------------------------------------------------------------------


def _back(request, conversation: Conversation):
    """Redirect to ``next`` when it is a safe local URL, else to the conversation page."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("conversations:detail", args=[conversation.pk])
    return redirect(target)


def _bad_request(request, message: str) -> HttpResponse:
    """A 400 that says why: the reason alone for htmx, else a page with it."""
    if getattr(request, "htmx", False):
        return HttpResponseBadRequest(message)
    return render(request, "conversations/denied.html", {"reason": message}, status=400)


def _refused(request, conversation: Conversation, message: str):
    if getattr(request, "htmx", False):
        return HttpResponseBadRequest(message)
    messages.error(request, message)
    return _back(request, conversation)


def action(needs: Cap):
    """Decorate a POST action: login, POST only, access-checked load, and error mapping.

    The wrapped view receives the conversation instead of the raw id.
    """

    def decorate(view):
        @wraps(view)
        @require_POST
        @login_required
        @handles_denial
        def wrapper(request, pk: int):
            conversation = conversation_for(request.user, pk, needs=needs)
            try:
                return view(request, conversation)
            except services.DomainError as exc:
                return _refused(request, conversation, exc.message)

        return wrapper

    return decorate


def _invalid(request, conversation, form) -> HttpResponse:
    errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
    return _refused(request, conversation, errors or _("The form was not valid."))


@action(Cap.REPLY)
def reply(request, conversation):
    form = forms.ReplyForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    services.reply(
        conversation,
        author=request.user,
        body=form.cleaned_data["body"],
        reply_to=form.cleaned_data["reply_to"],
    )
    messages.success(request, _("Reply queued."))
    return _back(request, conversation)


@action(Cap.REPLY)
def send_template(request, conversation):
    form = forms.TemplateForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    template = MessageTemplate.objects.filter(
        pk=form.cleaned_data["template"], channel_id=conversation.channel_id
    ).first()
    if template is None:
        return _refused(request, conversation, str(services.TEMPLATE_NOT_SENDABLE))
    services.send_template(
        conversation, author=request.user, template=template, params=form.params()
    )
    messages.success(request, _("Template queued."))
    return _back(request, conversation)


@require_POST
@login_required
@handles_denial
def retry(request, pk: int, message_id: int):
    """Send a failed reply again (outbound.retry: the same row, at most once)."""
    conversation = conversation_for(request.user, pk, needs=Cap.REPLY)
    message = conversation.messages.filter(
        partitions.in_thread(conversation), pk=message_id, direction=Message.Direction.OUTBOUND
    ).first()
    if message is None:
        raise Http404(_("No such reply in this conversation."))
    message.conversation = conversation  # loaded with its channel and the user's role on it
    try:
        outbound.retry(message, actor=request.user)
    except services.DomainError as exc:
        return _refused(request, conversation, exc.message)
    messages.success(request, _("Sending the reply again."))
    return _back(request, conversation)


@action(Cap.TRIAGE)
def move(request, conversation):
    form = forms.MoveForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    services.move_conversation(conversation, to=form.cleaned_data["to"], actor=request.user)
    messages.success(
        request,
        _("Moved to %(status)s.") % {"status": conversation.get_status_display()},
    )
    return _back(request, conversation)


@action(Cap.ASSIGN)
def assign(request, conversation):
    form = forms.AssignForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    value = form.cleaned_data["assignee"]
    if value == "":
        services.unassign(conversation, actor=request.user)
        messages.success(request, _("Unassigned."))
        return _back(request, conversation)
    if value == queries.ASSIGNEE_ME:
        assignee = request.user
    else:
        assignee = get_user_model().objects.filter(pk=value, is_active=True).first()
    try:
        if assignee is None:
            raise services.AssigneeNotAllowed(str(services.ASSIGNEE_NO_ACCESS))
        services.assign(conversation, assignee=assignee, actor=request.user)
    except services.AssigneeNotAllowed as exc:
        # The picker offers only users who can reply: this request names someone else.
        return _bad_request(request, exc.message)
    messages.success(request, _("Assigned to %(name)s.") % {"name": _display(assignee)})
    return _back(request, conversation)


def _display(user) -> str:
    return user.get_full_name() or user.get_username()


def _label_action(request, conversation, *, model, add, remove):
    form = forms.LabelForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    item = model.objects.filter(pk=form.cleaned_data["id"]).first()
    if item is None:
        return _refused(request, conversation, _("It no longer exists."))
    change = add if form.cleaned_data["action"] == "add" else remove
    change(conversation, **{model._meta.model_name: item}, actor=request.user)
    return _back(request, conversation)


@action(Cap.ANNOTATE)
def tag(request, conversation):
    return _label_action(
        request, conversation, model=Tag, add=services.add_tag, remove=services.remove_tag
    )


@action(Cap.ANNOTATE)
def topic(request, conversation):
    return _label_action(
        request, conversation, model=Topic, add=services.add_topic, remove=services.remove_topic
    )


@action(Cap.ANNOTATE)
def note(request, conversation):
    form = forms.NoteForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation, form)
    services.add_note(conversation, body=form.cleaned_data["body"], actor=request.user)
    messages.success(request, _("Note added."))
    return _back(request, conversation)
