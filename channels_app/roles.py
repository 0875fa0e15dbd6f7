"""The channel access roles (DESIGN.md section 1), apart from the access rules.

The models store a role and need only these names; the access module (channels_app/access.py)
holds the capabilities and the table between them and reads the models. Keeping the roles here
lets both import downwards: models -> roles, access -> models and roles, never back.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.IntegerChoices):
    """Channel access roles, ordered: a higher number includes everything below it."""

    VIEWER = 10, _("Viewer")
    CONTRIBUTOR = 20, _("Contributor")
    SUPERVISOR = 30, _("Supervisor")
    # Never granted on a channel; what role_for() answers for admins.
    ADMIN = 100, _("Admin")


GRANTABLE_ROLES = [Role.VIEWER, Role.CONTRIBUTOR, Role.SUPERVISOR]
