"""The agent's saved-reply page (/saved-replies/) and the composer's two JSON endpoints.

Thin: access through replies.access (404 for a reply the user cannot see, 403 for one they see
but may not change) and conversations.access (the conversation a reply is rendered for), reads
through replies.queries, changes through replies.services.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from channels_app.access import Cap
from conversations.access import conversation_for
from replies import access, placeholders, queries, services
from replies.forms import SavedReplyForm
from replies.placeholders import PlaceholderValues


def replier_page(view):
    """Login, then a 403 page saying why for users who can reply on no channel."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        try:
            access.require_replier(request.user)
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return render(request, "replies/denied.html", {"reason": str(exc)}, status=403)

    return wrapper


@require_GET
@replier_page
def manage(request):
    page = queries.manage_page(request.user)
    return render(request, "replies/manage.html", {"own": page.own, "shared": page.shared})


@require_http_methods(["GET", "POST"])
@replier_page
def add(request):
    form = SavedReplyForm(request.POST or None, owner=request.user)
    if request.method == "POST" and form.is_valid():
        return _save(request, form, _("Saved reply “%(title)s” added."))
    return render(request, "replies/form.html", {"form": form, "reply": None})


@require_http_methods(["GET", "POST"])
@replier_page
def edit(request, pk: int):
    reply = access.own_reply_for(request.user, pk)
    form = SavedReplyForm(request.POST or None, instance=reply, owner=request.user)
    if request.method == "POST" and form.is_valid():
        return _save(request, form, _("Saved reply “%(title)s” changed."))
    return render(request, "replies/form.html", {"form": form, "reply": reply})


def _save(request, form, message):
    try:
        reply = services.save_saved_reply(form.instance, actor=request.user)
    except ValidationError as error:  # a shortcut taken between validation and save
        form._update_errors(error)
        return render(request, "replies/form.html", {"form": form, "reply": form.instance})
    messages.success(request, message % {"title": reply.title})
    return redirect("replies:manage")


@require_http_methods(["GET", "POST"])
@replier_page
def delete(request, pk: int):
    reply = access.own_reply_for(request.user, pk)
    if request.method == "POST":
        services.delete_saved_reply(reply, actor=request.user)
        messages.success(request, _("Saved reply “%(title)s” deleted.") % {"title": reply.title})
        return redirect("replies:manage")
    return render(request, "replies/confirm_delete.html", {"reply": reply})


# --- the composer's endpoints (JSON) -----------------------------------------------------------


def json_endpoint(view):
    """Login (401 JSON rather than a redirect: a script is asking), and every refusal as JSON
    with its reason: 404 for what the user cannot see, 403 for what their role does not allow,
    400 for a malformed request."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"error": _("Log in first.")}, status=401)
        try:
            return view(request, *args, **kwargs)
        except Http404 as exc:
            return JsonResponse({"error": str(exc) or _("Not found.")}, status=404)
        except PermissionDenied as exc:
            return JsonResponse({"error": str(exc) or _("Not allowed.")}, status=403)
        except ValueError as exc:
            return JsonResponse({"error": str(exc)}, status=400)

    return wrapper


def _conversation_param(request):
    """The conversation the composer asks for (``?conversation=<id>``): loaded through
    conversation_for with the reply capability, so a Viewer gets 403 and an invisible one 404.
    None when the parameter is absent."""
    raw = request.GET.get("conversation", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(_("conversation must be a conversation id."))
    return conversation_for(request.user, raw, needs=Cap.REPLY)


@require_GET
@json_endpoint
def search(request):
    """``?q=<letters after the slash>&conversation=<id>``: up to 10 visible saved replies, best
    match first, each with its preview rendered for that conversation."""
    conversation = _conversation_param(request)
    if conversation is None:
        access.require_replier(request.user)
    q = request.GET.get("q", "")
    if len(q) > 4 * queries.MAX_QUERY:
        raise ValueError(_("The search text is too long."))
    replies = queries.search(request.user, q, sees_a_channel=True)
    values = PlaceholderValues.of(agent=request.user, conversation=conversation)
    return JsonResponse({"results": queries.search_results(replies, values)})


@require_GET
@json_endpoint
def rendered(request, pk: int):
    """``?conversation=<id>``: the saved reply's whole text with its placeholders filled for that
    conversation and the requesting agent (plain text, what the reply box receives)."""
    conversation = _conversation_param(request)
    if conversation is None:
        raise ValueError(_("Say which conversation: ?conversation=<id>."))
    reply = access.saved_reply_for(request.user, pk, sees_a_channel=True)
    values = PlaceholderValues.of(agent=request.user, conversation=conversation)
    return JsonResponse(
        {
            "id": reply.pk,
            "shortcut": reply.shortcut,
            "title": reply.title,
            "body": placeholders.render(reply.body, values),
        }
    )
