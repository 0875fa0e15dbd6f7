"""Audited models: ``register(Model)`` is all a model needs (one line, in audit.registrations).

For each registered model the receivers below write exactly one AuditEntry per saved change,
creation or deletion, inside the transaction of that change (Django's admin and the desk's
services run every write in ``transaction.atomic``, and the receivers run before its commit):

- ``pre_save`` reads the stored row once, ``post_save`` compares it with the saved instance and
  writes the fields that differ as ``[old, new]`` (a save that changes nothing writes nothing);
- ``post_delete`` writes the last values;
- many-to-many fields (``m2m=``, either side of the relation) write one row per operation:
  ``set()`` removes and adds inside one atomic block, which becomes one row ``[before, after]``.

Secret fields (encrypted tokens, password hashes, and any named in ``secret=``) are written as
``"changed"``: neither the old nor the new value ever reaches an audit row.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db import connections
from django.db.models import Model, signals
from django.utils import timezone

from audit import context
from audit.models import SECRET_CHANGED, AuditEntry
from channels_app.admin_site import is_secret_field

# Bookkeeping columns every save moves: never a change worth a row.
ALWAYS_SKIPPED = {"updated_at", "last_login"}


@dataclass
class Registration:
    model: type[Model]
    fields: list[str]  # attnames-independent: the concrete fields' names
    secret: set[str]
    m2m: dict[str, type[Model]] = field(default_factory=dict)  # name -> through model


_registry: dict[type[Model], Registration] = {}
# through model -> [(registered model, field name on it)]
_through: dict[type[Model], list[tuple[type[Model], str]]] = {}


def is_registered(model: type[Model]) -> bool:
    return model in _registry


def register(
    model: type[Model],
    *,
    exclude: tuple[str, ...] = (),
    secret: tuple[str, ...] = (),
    m2m: tuple[str, ...] = (),
    only: tuple[str, ...] = (),
) -> None:
    """Audit every change of ``model``. ``only`` limits the audited fields; ``exclude`` drops
    some; ``secret`` names fields written as "changed" (encrypted fields and password hashes
    are secret without being named); ``m2m`` names many-to-many fields (either side) to audit."""
    if model in _registry:
        return
    names = []
    secrets = set(secret)
    for f in model._meta.concrete_fields:
        if f.primary_key or f.name in ALWAYS_SKIPPED or f.name in exclude:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            continue
        if only and f.name not in only:
            continue
        if is_secret_field(f):
            secrets.add(f.name)
        names.append(f.name)
    reg = Registration(model=model, fields=names, secret=secrets)
    for name in m2m:
        f = model._meta.get_field(name)
        # A ManyToManyField carries its through model on remote_field; the reverse side (a
        # ManyToManyRel, e.g. User.desk_teams) carries it itself.
        through = getattr(f, "through", None) or f.remote_field.through
        reg.m2m[name] = through
        _through.setdefault(through, []).append((model, name))
        signals.m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"audit-{through}")
    _registry[model] = reg
    uid = f"audit-{model._meta.label}"
    signals.pre_save.connect(_pre_save, sender=model, dispatch_uid=uid)
    signals.post_save.connect(_post_save, sender=model, dispatch_uid=uid)
    signals.pre_delete.connect(_pre_delete, sender=model, dispatch_uid=uid)
    signals.post_delete.connect(_post_delete, sender=model, dispatch_uid=uid)


# --- values ------------------------------------------------------------------------------------


def _plain(value):
    """A JSON-safe, readable form of a field value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _values(reg: Registration, instance: Model) -> dict:
    values = {}
    for name in reg.fields:
        f = instance._meta.get_field(name)
        values[name] = getattr(instance, f.attname)
    return values


def _shown(reg: Registration, instance_model, name: str, value):
    """How a value is written: foreign keys as "name (#id)", everything else plain."""
    f = instance_model._meta.get_field(name)
    if f.is_relation and value is not None:
        related = f.related_model._base_manager.filter(pk=value).first()
        return f"{related} (#{value})" if related is not None else f"#{value}"
    return _plain(value)


def _diff(reg: Registration, model, old: dict | None, new: dict | None, only=None) -> dict:
    changes = {}
    for name in reg.fields:
        if only is not None and name not in only:
            continue
        before = None if old is None else old.get(name)
        after = None if new is None else new.get(name)
        if old is not None and new is not None and before == after:
            continue
        if name in reg.secret:
            if before or after:
                changes[name] = SECRET_CHANGED
            continue
        if old is None and after in (None, "", [], {}):
            continue  # a creation lists what was set, not every empty field
        changes[name] = [_shown(reg, model, name, before), _shown(reg, model, name, after)]
    return changes


def _repr(instance: Model) -> str:
    """The object's text, or its type and id when that text needs a row already deleted."""
    try:
        return str(instance)[:200]
    except ObjectDoesNotExist:
        return f"{instance._meta.verbose_name} #{instance.pk}"[:200]


def _write(instance: Model, action: str, changes: dict, using: str, *, text=None) -> AuditEntry:
    ctx = context.current()
    return AuditEntry.objects.using(using).create(
        at=timezone.now(),
        actor=ctx.actor(),
        actor_name=ctx.name()[:200],
        source=ctx.source,
        remote_addr=ctx.remote_addr,
        action=action,
        content_type=ContentType.objects.db_manager(using).get_for_model(
            type(instance), for_concrete_model=False
        ),
        object_id=str(instance.pk),
        object_repr=text or _repr(instance),
        changes=changes,
    )


# --- one row per object and transaction ------------------------------------------------------


def _operation(using: str):
    """The outermost atomic block of the change (a test case's own wrapper is skipped), or None
    in autocommit: all rows of one object written inside it are merged into one."""
    connection = connections[using]
    for block in connection.atomic_blocks:
        if not getattr(block, "_from_testcase", False):
            return block
    return None


def _pending(using: str) -> dict:
    pending = connections[using].__dict__.setdefault("_audit_pending", {})
    if len(pending) > 1000:  # leftovers of finished transactions
        pending.clear()
    return pending


def _record(instance: Model, action: str, changes: dict, using: str) -> None:
    """Write the object's row for this transaction, or merge into the one already written."""
    operation = _operation(using)
    key = (type(instance), str(instance.pk))
    pending = _pending(using)
    entry = pending.get(key)
    if operation is not None and entry is not None and entry["operation"] is operation:
        merged = dict(entry["changes"])
        for name, change in changes.items():
            earlier = merged.get(name)
            if change == SECRET_CHANGED or earlier == SECRET_CHANGED or earlier is None:
                merged[name] = change if earlier is None else SECRET_CHANGED
            else:
                merged[name] = [earlier[0], change[1]]
                if merged[name][0] == merged[name][1]:
                    del merged[name]
        entry["changes"] = merged
        AuditEntry.objects.using(using).filter(pk=entry["row"]).update(
            changes=merged, object_repr=_repr(instance)
        )
        return
    if not changes and action == AuditEntry.Action.UPDATE:
        return
    row = _write(instance, action, changes, using)
    if operation is not None:
        pending[key] = {"operation": operation, "row": row.pk, "changes": changes}


# --- receivers ---------------------------------------------------------------------------------


def _pre_save(sender, instance, raw=False, using=None, update_fields=None, **kwargs):
    if raw:
        return
    reg = _registry[sender]
    old = None
    if update_fields is not None and not set(update_fields) & set(reg.fields):
        instance._audit_old = None
        instance._audit_skip = True  # e.g. a presence heartbeat: nothing audited moves
        return
    instance._audit_skip = False
    if instance.pk is not None and not instance._state.adding:
        stored = sender._base_manager.using(using).filter(pk=instance.pk).first()
        old = _values(reg, stored) if stored is not None else None
    instance._audit_old = old


def _post_save(sender, instance, created, raw=False, using=None, update_fields=None, **kwargs):
    if raw:
        return
    reg = _registry[sender]
    old = getattr(instance, "_audit_old", None)
    instance._audit_old = None
    if getattr(instance, "_audit_skip", False) and not created:
        return
    if created or old is None:
        changes = _diff(reg, sender, None, _values(reg, instance))
        _record(instance, AuditEntry.Action.CREATE, changes, using)
        return
    only = set(update_fields) if update_fields is not None else None
    changes = _diff(reg, sender, old, _values(reg, instance), only=only)
    if changes:
        _record(instance, AuditEntry.Action.UPDATE, changes, using)


def _pre_delete(sender, instance, using=None, origin=None, **kwargs):
    """Read what the row says while everything it names still exists: a cascade deletes the
    related rows (a grant's user) before this row's post_delete."""
    reg = _registry[sender]
    changes = {}
    for name, value in _values(reg, instance).items():
        if name in reg.secret:
            if value:
                changes[name] = SECRET_CHANGED
        elif value not in (None, "", [], {}):
            changes[name] = [_shown(reg, sender, name, value), None]
    instance._audit_deleted = (_repr(instance), changes)


def _post_delete(sender, instance, using=None, origin=None, **kwargs):
    text, changes = getattr(instance, "_audit_deleted", (None, {}))
    _write(instance, AuditEntry.Action.DELETE, changes, using, text=text)
    _pending(using).pop((sender, str(instance.pk)), None)


def _side(sender, instance) -> tuple[Registration, str] | None:
    for model, name in _through.get(sender, ()):
        if isinstance(instance, model):
            return _registry[model], name
    return None


def _members(instance, name: str) -> list[str]:
    return sorted(str(obj) for obj in getattr(instance, name).all())


def _m2m_changed(sender, instance, action, reverse, model, pk_set, using=None, **kwargs):
    """A many-to-many change of an audited object: its field as [members before, after], in
    the object's row of this transaction (one row however many add/remove calls it took)."""
    side = _side(sender, instance)
    if side is None or action not in {"pre_add", "pre_remove", "pre_clear", "post_add",
                                      "post_remove", "post_clear"}:  # fmt: skip
        return
    _reg, name = side
    before_key = ("m2m-before", type(instance), str(instance.pk), name)
    pending = _pending(using)
    operation = _operation(using)
    if action.startswith("pre_"):
        held = pending.get(before_key)
        if held is None or held["operation"] is not operation or operation is None:
            pending[before_key] = {"operation": operation, "before": _members(instance, name)}
        return
    held = pending.get(before_key)
    if held is None:
        return
    after = _members(instance, name)
    entry = pending.get((type(instance), str(instance.pk)))
    merged_before = held["before"]
    if entry is not None and entry["operation"] is operation and operation is not None:
        changes = dict(entry["changes"])
        if after == merged_before:
            changes.pop(name, None)
        else:
            changes[name] = [merged_before, after]
        entry["changes"] = changes
        AuditEntry.objects.using(using).filter(pk=entry["row"]).update(changes=changes)
    elif after != merged_before:
        _record(instance, AuditEntry.Action.UPDATE, {name: [merged_before, after]}, using)
    if operation is None:
        pending.pop(before_key, None)
