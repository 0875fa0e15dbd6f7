"""Every change to a saved reply: validate, check who may make it, save. See
docs/saved-replies.md.

Personal replies are changed by their owners (the /saved-replies/ page), team and global ones by
desk admins (the admin); replies/access.py decides. Saved replies belong to no conversation, so
no conversation Event is written; the admin keeps its LogEntry for its changes.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from channels_app.access import Cap, can
from conversations.services import template_placeholder_count
from replies import access, placeholders
from replies.models import SavedReply

NOT_YOURS = _("You may not change this saved reply.")


def _duplicate_message(reply: SavedReply) -> str:
    if reply.scope == SavedReply.Scope.PERSONAL:
        return _("You already have a saved reply with this shortcut.")
    if reply.scope == SavedReply.Scope.TEAM:
        return _("This team already has a saved reply with this shortcut.")
    return _("A global saved reply already has this shortcut.")


def _shortcut_taken(reply: SavedReply) -> bool:
    same_scope = SavedReply.objects.filter(scope=reply.scope, shortcut=reply.shortcut)
    if reply.scope == SavedReply.Scope.PERSONAL:
        same_scope = same_scope.filter(owner_id=reply.owner_id)
    elif reply.scope == SavedReply.Scope.TEAM:
        same_scope = same_scope.filter(team_id=reply.team_id)
    if reply.pk is not None:
        same_scope = same_scope.exclude(pk=reply.pk)
    return same_scope.exists()


def _template_errors(reply: SavedReply, *, actor) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    template = reply.template
    lines = reply.template_param_lines()
    if template is None:
        if reply.template_params.strip():
            errors["template_params"] = [
                _("Template parameters need a template: pick one, or leave them empty.")
            ]
        return errors
    stored = (
        SavedReply.objects.filter(pk=reply.pk).values_list("template_id", flat=True).first()
        if reply.pk is not None
        else None
    )
    if stored != template.pk:
        # Checked when the link is made: a template paused later keeps the link (it is simply
        # not offered while it cannot be sent).
        if not template.is_sendable:
            errors["template"] = [
                _("“%(name)s” is not approved (%(status)s): only approved templates can be sent.")
                % {"name": template.name, "status": template.get_status_display()}
            ]
        elif reply.scope == SavedReply.Scope.PERSONAL and not can(
            actor, Cap.REPLY, template.channel
        ):
            errors["template"] = [_("You cannot send templates on that template's channel.")]
    needed = template_placeholder_count(template)
    if len(lines) > needed:
        errors["template_params"] = [
            _("The template has %(needed)d parameter(s), but %(given)d lines were given.")
            % {"needed": needed, "given": len(lines)}
        ]
    return errors


def validate_saved_reply(reply: SavedReply, *, actor) -> None:
    """Raise ValidationError (by field) unless ``reply`` may be saved as it is: the model's own
    checks, known placeholders only, a shortcut free in its scope, and a sendable template."""
    errors: dict[str, list[str]] = {}
    try:
        reply.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        errors.update({k: [str(m) for m in v] for k, v in error.message_dict.items()})
    if reply.scope == SavedReply.Scope.PERSONAL and reply.owner_id is None:
        errors.setdefault("owner", []).append(_("A personal saved reply needs an owner."))
    if reply.scope == SavedReply.Scope.TEAM and reply.team_id is None:
        errors.setdefault("team", []).append(_("Pick the team this saved reply is for."))
    if reply.scope != SavedReply.Scope.TEAM and reply.team_id is not None:
        errors.setdefault("team", []).append(
            _("Only team saved replies have a team: clear it, or choose the scope Team.")
        )
    if reply.scope != SavedReply.Scope.PERSONAL and reply.owner_id is not None:
        errors.setdefault("owner", []).append(_("Only personal saved replies have an owner."))
    for field in ("body", "template_params"):
        found = placeholders.problems(getattr(reply, field) or "")
        if found:
            errors.setdefault(field, []).extend(found)
    if "shortcut" not in errors and reply.shortcut and _shortcut_taken(reply):
        errors["shortcut"] = [_duplicate_message(reply)]
    for field, messages in _template_errors(reply, actor=actor).items():
        errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def save_saved_reply(reply: SavedReply, *, actor) -> SavedReply:
    """Create or update ``reply`` for ``actor``: PermissionDenied unless they manage it
    (access.can_manage), ValidationError (by field) when it is not valid. Two saves racing for
    the same shortcut end with one ValidationError, not an IntegrityError."""
    if not access.can_manage(actor, reply):
        raise PermissionDenied(NOT_YOURS)
    if reply.pk is not None:
        stored = SavedReply.objects.select_for_update().filter(pk=reply.pk).first()
        if stored is None or not access.can_manage(actor, stored):
            raise PermissionDenied(NOT_YOURS)
    validate_saved_reply(reply, actor=actor)
    try:
        with transaction.atomic():
            reply.save()
    except IntegrityError:
        raise ValidationError({"shortcut": [_duplicate_message(reply)]}) from None
    return reply


@transaction.atomic
def delete_saved_reply(reply: SavedReply, *, actor) -> None:
    """Delete ``reply``: PermissionDenied unless ``actor`` manages it."""
    if not access.can_manage(actor, reply):
        raise PermissionDenied(NOT_YOURS)
    reply.delete()

