"""Who is changing things right now: the audit rows' actor, source and client address.

A request sets it (audit.middleware; a request of the API names its token, which the API's
authentication leaves on ``request.api_token``), a management command sets it (every command's
``execute`` is wrapped once, at startup, by ``wrap_management_commands``). Anything else (Celery
tasks, a shell) writes as the system.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand


@dataclass(frozen=True)
class AuditContext:
    source: str  # an AuditEntry.Source value
    request: Any = None  # the request, whose user is read when a row is written (lazy)
    actor_name: str = ""
    remote_addr: str | None = None

    def actor(self):
        user = getattr(self.request, "user", None)
        if user is not None and user.is_authenticated:
            return user
        return None

    def name(self) -> str:
        if self.actor_name:
            return self.actor_name
        token = getattr(self.request, "api_token", None)  # set by the API's authentication
        if token is not None:
            return f"API token: {token.name}"[:200]
        user = self.actor()
        if user is not None:
            return user.get_username()
        return "anonymous" if self.request is not None else "system"


SYSTEM = AuditContext(source="system")
_current: ContextVar[AuditContext] = ContextVar("audit_context", default=SYSTEM)


def current() -> AuditContext:
    return _current.get()


@contextlib.contextmanager
def acting(context: AuditContext) -> Iterator[AuditContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return "?"


def command_context(command: BaseCommand) -> AuditContext:
    name = type(command).__module__.rsplit(".", 1)[-1]
    return AuditContext(source="command", actor_name=f"command {name} ({_os_user()})"[:200])


def wrap_management_commands() -> None:
    """Every management command (manage.py and call_command alike) runs as itself."""
    if getattr(BaseCommand.execute, "_audit_wrapped", False):
        return
    original = BaseCommand.execute

    @functools.wraps(original)
    def execute(self, *args, **options):
        with acting(command_context(self)):
            return original(self, *args, **options)

    execute._audit_wrapped = True
    BaseCommand.execute = execute
