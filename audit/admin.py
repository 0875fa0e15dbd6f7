"""The audit log in the admin: read-only, filterable, exportable as CSV; for admins only."""

from __future__ import annotations

import csv

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from audit.models import SECRET_CHANGED, AuditEntry
from channels_app.admin_site import AdminOnlyReadOnly

CSV_HEADER = [
    "time", "actor", "source", "client address", "action", "object type", "object id",
    "object", "field", "old", "new",
]  # fmt: skip


SHOWN_FIELDS = 4  # changed fields named in the list; the entry's page shows them all


def _text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "∅"
    return str(value)


def change_rows(entry: AuditEntry, *, labels: bool = False) -> list[tuple[str, str, str]]:
    """(field, old, new) per changed field; a secret reads "(secret)" → "changed". ``labels``:
    the fields' names as the model's (translated) labels instead of their code names."""
    rows = []
    for name, change in sorted((entry.changes or {}).items()):
        field = _label(entry, name) if labels else name
        if change == SECRET_CHANGED:
            rows.append((field, gettext("(secret)"), gettext("changed")))
        else:
            old, new = change
            rows.append((field, _text(old), _text(new)))
    return rows


def _label(entry: AuditEntry, name: str) -> str:
    model = entry.content_type.model_class()
    try:
        return str(model._meta.get_field(name).verbose_name)
    except (AttributeError, FieldDoesNotExist):
        return name


def _cell(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value):
        return value


# Read-only for everyone: rows are written by the receivers and removed by retention only.
@admin.register(AuditEntry)
class AuditEntryAdmin(AdminOnlyReadOnly, admin.ModelAdmin):
    list_display = ("at", "actor_name", "source", "remote_addr", "action", "object_type",
                    "object_repr", "changed_fields")  # fmt: skip
    list_filter = ("action", "source", ("content_type", admin.RelatedOnlyFieldListFilter), "at")
    search_fields = ("object_repr", "actor_name", "object_id", "remote_addr")
    date_hierarchy = "at"
    list_select_related = ("content_type",)
    fields = ("at", "actor_name", "source", "remote_addr", "action", "object_type", "object_id",
              "object_repr", "change_table")  # fmt: skip
    readonly_fields = fields
    list_per_page = 100

    class Media:
        css = {"all": ["desk/admin.css"]}

    @admin.display(description=_("object type"), ordering="content_type")
    def object_type(self, obj):
        model = obj.content_type.model_class()
        return model._meta.verbose_name if model is not None else obj.content_type.model

    @admin.display(description=_("changed fields"))
    def changed_fields(self, obj):
        names = sorted(obj.changes or {})
        if len(names) > SHOWN_FIELDS:
            more = len(names) - SHOWN_FIELDS
            return ", ".join(names[:SHOWN_FIELDS]) + " " + ngettext(
                "(+%(count)d more)", "(+%(count)d more)", more
            ) % {"count": more}
        return ", ".join(names) or "—"

    @admin.display(description=_("changes"))
    def change_table(self, obj):
        rows = change_rows(obj, labels=True)
        if not rows:
            return "—"
        return format_html(
            '<table class="desk-audit-changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            gettext("field"),
            gettext("old"),
            gettext("new"),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    # --- CSV export of the filtered list ---------------------------------------------------------
    def get_urls(self):
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_csv),
            name="audit_auditentry_export",
        )
        return [export, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        query = request.GET.urlencode()
        url = reverse("admin:audit_auditentry_export") + (f"?{query}" if query else "")
        return super().changelist_view(request, {**(extra_context or {}), "export_url": url})

    def export_csv(self, request):
        """The rows the changelist shows with the same filters and search, one line per field."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(gettext("Unknown filter in the address."))
        rows = changelist.get_queryset(request).select_related("content_type").iterator(2000)
        writer = csv.writer(_Echo())

        def lines():
            yield writer.writerow(CSV_HEADER)
            for entry in rows:
                common = [
                    timezone.localtime(entry.at).isoformat(),
                    entry.actor_name,
                    entry.source,
                    entry.remote_addr or "",
                    entry.action,
                    entry.content_type.app_labeled_name,
                    entry.object_id,
                    entry.object_repr,
                ]
                for name, old, new in change_rows(entry) or [("", "", "")]:
                    yield writer.writerow([_cell(v) for v in (*common, name, old, new)])

        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
        return response
