"""The project's admin site: its titles, and an index that starts with what admins use most.

Installed through ``DeskAdminConfig`` (channels_app/admin_apps.py, in INSTALLED_APPS instead of
``django.contrib.admin``), so ``django.contrib.admin.site`` *is* this site and every
``@admin.register`` lands here.
"""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db.models.constants import LOOKUP_SEP
from django.utils.translation import gettext_lazy as _

from channels_app import access
from channels_app.login_throttle import DeskAdminAuthenticationForm

# Apps and models listed first on the admin index, in this order; the rest follow alphabetically.
APP_ORDER = ["channels_app", "onboarding", "conversations", "auth"]
MODEL_ORDER = {
    "channels_app": ["Channel", "Team", "MessageTemplate"],
    "auth": ["User", "Group"],
}


class AdminOnlyPermissions:
    """For a ModelAdmin whose pages are for desk admins only (superusers and channel
    administrators), whatever Django's per-model permissions say: the access module decides.

    Put it first among the bases (``class TagAdmin(AdminOnlyPermissions, admin.ModelAdmin)``).
    A page with a narrower rule overrides one hook and starts from ``super()``.
    """

    def has_module_permission(self, request):
        return access.is_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return access.is_admin(request.user)

    def has_add_permission(self, request, *args):
        # *args: an inline's hook also receives the parent object.
        return access.is_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return access.is_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return access.is_admin(request.user)


class AdminOnlyReadOnly(AdminOnlyPermissions):
    """For the admin-only pages of rows written elsewhere (logs, deliveries, health): desk
    admins see them, and nobody adds, changes or deletes one through the admin."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _position(order: list[str], key: str) -> tuple[int, str]:
    return (order.index(key) if key in order else len(order), key)


def is_secret_field(field) -> bool:
    """A field whose value must never be recoverable: encrypted secrets and password hashes."""
    if getattr(field, "secret", False):  # channels_app.encryption.EncryptedTextField
        return True
    return field.name == "password" and field.model._meta.label == settings.AUTH_USER_MODEL


def lookup_touches_secret(model, lookup: str) -> bool:
    """Whether a query-string lookup (``channel__access_token__startswith``) reaches a secret
    field anywhere along its path, through any number of relations."""
    for part in lookup.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or lookup name: the path ended on a non-secret field
        if is_secret_field(field):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


class SecretLookupsRefused:
    """ModelAdmin mixin: a changelist filter on a secret field is refused (400, Django's
    DisallowedModelAdminLookup), like Django's UserAdmin refuses ``password``.

    Without it ``?access_token__startswith=EAAG`` answers differently for a right and a wrong
    guess, and the token can be read back a character at a time. DeskAdminSite.register puts it
    under every ModelAdmin registered on the site, the project's and third-party ones alike;
    tests/security/test_secret_lookups.py walks the whole registry.
    """

    def lookup_allowed(self, lookup, value, request=None):
        if lookup_touches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)


class DeskAdminSite(admin.AdminSite):
    site_header = _("Messaging desk administration")
    site_title = _("Messaging desk admin")
    index_title = _("Channels, teams, access and onboarding")
    # The changelists carry many columns plus a filter column; a third (navigation) column would
    # squeeze them into horizontal scrolling at laptop widths. Breadcrumbs and the index remain.
    enable_nav_sidebar = False
    # Says "locked out" when django-axes refuses the login (channels_app/login_throttle.py).
    login_form = DeskAdminAuthenticationForm

    def register(self, model_or_iterable, admin_class=None, **options):
        # Every admin, including those of django.contrib.auth and django-axes, refuses lookups
        # on secret fields; a subclass keeps each admin's own behaviour otherwise.
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SecretLookupsRefused):
            admin_class = type(
                admin_class.__name__,
                (SecretLookupsRefused, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        super().register(model_or_iterable, admin_class, **options)

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        apps.sort(key=lambda app: _position(APP_ORDER, app["app_label"]))
        for app in apps:
            order = MODEL_ORDER.get(app["app_label"], [])
            app["models"].sort(key=lambda model: _position(order, model["object_name"]))
        return apps
