"""No admin declares a search, filter, ordering or date drill-down that reaches a secret field
(issue 12, item 1, for what ``lookup_allowed`` does not see).

``SecretLookupsRefused`` refuses the query-string lookups of every changelist, but Django runs an
admin's own ``search_fields``, ``list_filter``, ``ordering``, ``date_hierarchy`` and sortable
columns (``admin_order_field``) without asking it: ``search_fields = ("channel__access_token",)``
would let ``?q=EAAG`` read a token back. This walks every admin of the site, the new ones (channel
health, automations, service levels, routing, API tokens, audit log) included.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin import ListFilter
from django.test import RequestFactory

from tests.factories import AdminUserFactory
from tests.security.secret_paths import secret_paths


def _declared(model_admin, request) -> list[tuple[str, str]]:
    """(where, path) of every field path the admin queries or sorts by on its own."""
    found = [("search_fields", f.lstrip("^=@")) for f in model_admin.get_search_fields(request)]
    for entry in model_admin.get_list_filter(request):
        name = entry[0] if isinstance(entry, tuple | list) else entry
        if isinstance(name, str):
            found.append(("list_filter", name))
        elif isinstance(name, type) and issubclass(name, ListFilter):
            found.append(("list_filter", getattr(name, "parameter_name", "") or ""))
    found += [("ordering", f.lstrip("-")) for f in model_admin.get_ordering(request) or ()
              if isinstance(f, str)]  # fmt: skip
    if model_admin.date_hierarchy:
        found.append(("date_hierarchy", model_admin.date_hierarchy))
    for column in model_admin.get_list_display(request):
        attr = getattr(model_admin, column, None) if isinstance(column, str) else column
        order = getattr(attr, "admin_order_field", None)
        if isinstance(order, str):
            found.append(("admin_order_field", order.lstrip("-")))
        elif isinstance(column, str) and attr is None:
            found.append(("list_display", column))
    return found


def _reaches(path: str, secrets: set[str]) -> bool:
    return any(path == s or path.startswith(s + "__") for s in secrets)


@pytest.mark.django_db
def test_no_admin_searches_filters_or_sorts_by_a_secret_field():
    request = RequestFactory().get("/admin/")
    request.user = AdminUserFactory()
    offending, walked = [], 0
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda i: i[0]._meta.label):
        secrets = set(secret_paths(model, hops=3))
        for where, path in _declared(model_admin, request):
            walked += 1
            if _reaches(path, secrets):
                offending.append(f"{type(model_admin).__name__}.{where}: {path}")
    assert walked > 50, "the walk found almost no declarations: is it still working?"
    assert not offending, "admins reaching secret fields:\n" + "\n".join(offending)
