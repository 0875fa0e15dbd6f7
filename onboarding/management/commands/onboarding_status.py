"""`manage.py onboarding_status`: each onboarding with progress, next actor and overdue steps."""

from __future__ import annotations

import json
from datetime import datetime

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from config.management import DeskCommand
from onboarding import queries


class Command(DeskCommand):
    help = _(
        "Print every WhatsApp onboarding with its progress (done/10), the current step, who "
        "must act next and the steps overdue in business days."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help=_("Print JSON instead of text."))
        parser.add_argument(
            "--now",
            metavar="ISO",
            help=_("Judge overdue steps at this moment (ISO 8601, e.g. 2026-03-02T09:00+01:00)."),
        )

    def handle(self, *args, **options):
        now = self._now(options.get("now"))
        rows = [self._row(o, now) for o in queries.onboardings_with_progress()]
        if options["json"]:
            self.stdout.write(json.dumps({"now": now.isoformat(), "onboardings": rows}, indent=2))
            return
        if not rows:
            self.stdout.write(_("No onboardings."))
            return
        for row in rows:
            current = row["current_step"]
            line = _("#%(id)s %(name)s %(phone)s: %(done)d/%(total)d") % {
                "id": row["id"],
                "name": row["display_name"],
                "phone": row["phone_number"],
                "done": row["done"],
                "total": row["total"],
            }
            if current is None:
                line += " " + _("complete")
            else:
                line += " · " + _("step %(order)d %(title)s (%(state)s), next: %(actor)s") % {
                    "order": current["order"],
                    "title": current["title"],
                    "state": current["state"],
                    "actor": row["next_actor_label"],
                }
            if row["overdue_steps"]:
                line += " · " + _("OVERDUE: %(steps)s") % {
                    "steps": ", ".join(f"{s['order']} {s['key']}" for s in row["overdue_steps"])
                }
            if row["overdue_overall"]:
                line += " · " + _("open over 10 business days")
            self.stdout.write(line)
        overdue = sum(bool(r["overdue_steps"]) for r in rows)
        self.stdout.write(
            _("%(n)d onboarding(s), %(overdue)d with overdue steps.")
            % {"n": len(rows), "overdue": overdue}
        )

    @staticmethod
    def _now(raw: str | None) -> datetime:
        if not raw:
            return timezone.now()
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise CommandError(
                _("--now %(value)r is not an ISO 8601 moment such as 2026-03-02T09:00:00+01:00.")
                % {"value": raw}
            ) from None
        if timezone.is_naive(value):
            # A moment without offset is read in the desk's time zone (settings.TIME_ZONE).
            value = timezone.make_aware(value)
        return value

    @staticmethod
    def _row(onboarding, now: datetime) -> dict:
        status = queries.status_of(onboarding, now=now)
        current = status.current
        return {
            "id": onboarding.pk,
            "display_name": onboarding.display_name,
            "phone_number": onboarding.phone_number,
            "done": status.done,
            "total": status.total,
            "complete": status.complete,
            "current_step": None
            if current is None
            else {
                "key": current.key,
                "order": current.order,
                "title": str(current.definition.title),
                "state": current.state,
            },
            "next_actor": status.next_actor.value if status.next_actor else None,
            "next_actor_label": str(status.next_actor.label) if status.next_actor else None,
            "overdue_steps": [
                {"key": s.key, "order": s.order, "waiting_since": s.waiting_since.isoformat()}
                for s in status.overdue
            ],
            "blocked_steps": [
                {"key": s.key, "order": s.order, "reason": s.blocked_reason} for s in status.blocked
            ],
            "days_open": status.days_open,
            "overdue_overall": status.overdue_overall,
            "channel_id": onboarding.channel_id,
        }
