"""Who may be sent what: checks other apps add to the template send path.

``services.send_template`` asks ``template_refusal`` before it queues a template, whoever sends
it (an agent on the page, the API, an automation), and refuses with the first reason given.
Apps above the conversations register their check in their ``AppConfig.ready`` (the marketing
opt-out: automations.optout.refusal), so the rule lives in its app and the one send path asks
it without importing it.
"""

from __future__ import annotations

from collections.abc import Callable

# guard(conversation, template) -> a reason to show, or None
_template_guards: list[Callable] = []


def register_template_guard(guard: Callable) -> None:
    if guard not in _template_guards:
        _template_guards.append(guard)


def template_refusal(conversation, template) -> str | None:
    for guard in _template_guards:
        reason = guard(conversation, template)
        if reason:
            return reason
    return None
