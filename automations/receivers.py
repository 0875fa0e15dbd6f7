"""What the automations app listens to (connected once, from AutomationsConfig.ready):

- customers' messages (``conversations.signals.message_received``): opt-out words and rules;
- WhatsApp's marketing preference reports (``conversations.signals.marketing_preference``) and
  sends that failed because the customer stopped marketing (131050, ``message_changed``);
- the template send path's policy (``conversations.send_policy``): the opt-out refusal;
- channel health alerts (``channels_app.health.alert``): pushed to the admins' screens.
"""

from __future__ import annotations

from automations import engine, health_alerts, optout
from channels_app import health
from conversations import send_policy, signals


def _preference(sender, *, channel_id, wa_id, value, detail="", at=None, **kwargs) -> None:
    optout.apply_preference(channel_id=channel_id, wa_id=wa_id, value=value, detail=detail, now=at)


def connect() -> None:
    signals.message_received.connect(
        engine.on_message_received, dispatch_uid="automations.engine"
    )
    signals.marketing_preference.connect(_preference, dispatch_uid="automations.preference")
    signals.message_changed.connect(optout.on_delivery_changed, dispatch_uid="automations.131050")
    send_policy.register_template_guard(optout.refusal)
    health.alert.connect(health_alerts.push_alert, dispatch_uid="automations.health_alerts")
