"""Channel health alerts on the admins' screens: every ``channels_app.health.alert`` (sent after
the health change committed, already logged there) is pushed to each admin's open pages as
``channel_health``; the admin pages show it as a banner (templates/admin/_health_alerts.html),
which also polls ``health_alerts.json`` every 20 s for pages without a live socket."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db.models import Q

from channels_app.access import ADMIN_PERMISSION
from realtime import push

logger = logging.getLogger(__name__)

PUSH_KIND = "channel_health"


def admin_user_ids() -> list[int]:
    app_label, codename = ADMIN_PERMISSION.split(".", 1)
    holds = Q(user_permissions__codename=codename,
              user_permissions__content_type__app_label=app_label) | Q(
        groups__permissions__codename=codename,
        groups__permissions__content_type__app_label=app_label,
    )  # fmt: skip
    return list(
        get_user_model()
        .objects.filter(Q(is_superuser=True) | holds, is_active=True)
        .values_list("pk", flat=True)
        .distinct()
    )


def push_alert(sender, *, event_id, channel_id, kind, severity, summary, **kwargs) -> None:
    data = {"event": event_id, "channel": channel_id, "kind": kind, "severity": severity,
            "summary": summary}  # fmt: skip
    for user_id in admin_user_ids():
        try:
            push.push_to_user(user_id, PUSH_KIND, data)
        except Exception:  # a push is best effort; the alert is logged and on the panel
            logger.warning("health alert %s not pushed to user %s", event_id, user_id)
            return
