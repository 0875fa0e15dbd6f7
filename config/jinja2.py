"""The Jinja2 environment of the second template backend (settings.TEMPLATES).

Jinja2 renders the conversation page's long lists (the thread, the history, the earlier
conversations: conversations/jinja2/), where a Django template per row cost half of the page,
and the reports' SVG charts (reports/jinja2/, a dot and a tooltip per day).
Autoescape is on (the backend's default): every value is escaped unless it is markup
(``__html__``, as Django's safe strings and Jinja's macros are). Translations are Django's:
``_``, ``gettext`` and ``ngettext`` are the i18n extension's callables, old style, so a
translated text is escaped like any other value (newstyle would trust it as markup). The files
are named .html so that ``makemessages`` finds their ``{{ _("...") }}`` strings.
"""

from __future__ import annotations

from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from jinja2 import Environment
from markupsafe import Markup, escape

from conversations.templatetags.desk import LocalTimes

_BR = Markup("<br>")


def linebreaksbr(value) -> Markup:
    """Django's ``linebreaksbr``: the text escaped, each line break a ``<br>``."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return _BR.join(escape(text).split("\n"))


def url(viewname: str, *args, **kwargs) -> str:
    """``{% url %}``: ``url("conversations:detail", conversation.pk)``."""
    return reverse(viewname, args=args or None, kwargs=kwargs or None)


def environment(**options) -> Environment:
    options.setdefault("extensions", []).append("jinja2.ext.i18n")
    env = Environment(**options)  # noqa: S701 - the backend passes autoescape=True
    env.install_gettext_callables(gettext, ngettext, newstyle=False)
    env.globals.update(url=url, local_times=LocalTimes)
    env.filters.update(linebreaksbr=linebreaksbr, truncatechars=truncatechars)
    return env
