"""The fixture world of the security tests: the cast, two admin-only personas, and one object of
every kind a URL can name."""

from datetime import timedelta
from http.cookies import SimpleCookie
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from api import tokens, webhooks
from api.models import WebhookDelivery
from audit.models import AuditEntry
from automations.models import AutomationRule, MarketingOptOut, OptOutWord
from channels_app.health_models import ChannelHealth, HealthEvent
from channels_app.models import MessageTemplate
from routing.models import AgentState, ChannelRouting, ContactLanguage, TeamRouting
from service_levels.models import CsatSurvey, HolidaySet, ServiceSettings, SlaPolicy
from tests.factories import (
    AccessAttemptFactory,
    AccessFailureLogFactory,
    AccessLogFactory,
    ContactFactory,
    ConversationFactory,
    GroupFactory,
    MessageFactory,
    OnboardingFactory,
    SavedReplyFactory,
    TagFactory,
    TemplateFactory,
    TopicFactory,
    UserFactory,
)

# The WhatsApp emulator (a real HTTP server on a live server) as tests/whatsapp runs it: used by
# the log checks.
from tests.whatsapp.conftest import (  # noqa: F401
    _plain_http_live_server,
    emulator,
    emulator_server,
)


@pytest.fixture
def world(cast, settings):
    """The world of one test. (A world shared by a whole module inside an outer transaction
    does not survive on PostgreSQL: Django closes every connection after each test.)"""
    # Nothing here may reach a provider by accident: a discard port refuses at once.
    settings.WHATSAPP_GRAPH_URL = "http://127.0.0.1:9/v23.0"
    return _build_world(cast)


def _build_world(cast):
    staff = UserFactory(username="stan_staff", is_staff=True)
    channel_admin = UserFactory(username="chad_channel_admin", is_staff=True)
    channel_admin.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="channels_app", codename="administer_channels"
        )
    )
    visible = ConversationFactory(channel=cast.channel, contact=ContactFactory())
    invisible = ConversationFactory(channel=cast.other_channel, contact=ContactFactory())
    template = TemplateFactory(channel=cast.channel, status=MessageTemplate.Status.APPROVED)
    onboarding = OnboardingFactory()
    personas = {
        "anonymous": None,
        "outsider": cast.outsider,
        "viewer": cast.viewer,
        "contributor": cast.contributor,
        "supervisor": cast.supervisor,
        "staff": staff,
        "channel_admin": channel_admin,
        "admin": cast.admin,
    }
    w = SimpleNamespace(
        cast=cast,
        personas=personas,
        visible=visible,
        invisible=invisible,
        template=template,
        tag=TagFactory(name="vip"),
        topic=TopicFactory(name="Returns"),
        onboarding=onboarding,
    )
    w.global_reply = SavedReplyFactory(shortcut="hello", title="Hello")
    w.own_reply = SavedReplyFactory(scope="personal", owner=cast.contributor, shortcut="mine")
    w.doomed_reply = SavedReplyFactory(scope="personal", owner=cast.contributor, shortcut="old")
    w.visible_file = _picture(visible, "visible.png")
    w.invisible_file = _picture(invisible, "invisible.png")
    # A reply WhatsApp refused (not retryable): what the retry action is tried on.
    w.failed_reply = MessageFactory(
        conversation=visible,
        direction="out",
        delivery="failed",
        failure_code=131026,
        author=cast.contributor,
    )
    w.sessions = {}
    api_token, _raw = tokens.create_token(name="CRM", channels=[cast.channel], actor=None)
    w.objects = {
        "channels_app.channel": cast.channel,
        "channels_app.team": cast.team,
        "channels_app.messagetemplate": template,
        "onboarding.onboarding": onboarding,
        "conversations.tag": w.tag,
        "conversations.topic": w.topic,
        "conversations.conversation": visible,
        "auth.user": cast.viewer,
        "auth.group": GroupFactory(name="Support leads"),
        "replies.savedreply": w.global_reply,
        "routing.channelrouting": ChannelRouting.objects.create(channel=cast.channel),
        "routing.agentstate": AgentState.objects.create(user=cast.contributor),
        "routing.teamrouting": TeamRouting.objects.create(team=cast.team, capacity=3),
        "routing.contactlanguage": ContactLanguage.objects.create(
            contact=visible.contact, language="en"
        ),
        "service_levels.holidayset": HolidaySet.objects.create(name="Germany"),
        "service_levels.servicesettings": ServiceSettings.objects.create(channel=cast.channel),
        "service_levels.slapolicy": SlaPolicy.objects.create(
            channel=cast.channel, first_response=timedelta(hours=1)
        ),
        "service_levels.csatsurvey": CsatSurvey.objects.create(
            conversation=visible,
            channel=cast.channel,
            contact=visible.contact,
            state="sent",
            resolved_at=visible.opened_at,
            due_at=visible.opened_at,
        ),
        "api.apitoken": api_token,
        "api.webhookdelivery": WebhookDelivery.objects.create(
            subscription=webhooks.subscribe(api_token, url="https://crm.example.com/x", events=[])[
                0
            ],
            event_type="conversation.resolved",
            payload={},
            created_at=visible.opened_at,
        ),
        "audit.auditentry": AuditEntry.objects.order_by("id").first(),
        "automations.automationrule": AutomationRule.objects.create(
            channel=cast.channel, name="Invoices", text_contains="invoice", resolve=True
        ),
        "automations.optoutword": OptOutWord.objects.get_or_create(word="STOP")[0],
        "automations.marketingoptout": MarketingOptOut.objects.create(
            contact=visible.contact, changed_at=visible.opened_at, source="keyword"
        ),
        "channels_app.channelhealth": ChannelHealth.objects.create(
            channel=cast.channel, updated_at=visible.opened_at
        ),
        "channels_app.healthevent": HealthEvent.objects.create(
            channel=cast.channel, kind="quality", summary="flagged", created_at=visible.opened_at
        ),
        "axes.accessattempt": AccessAttemptFactory(),
        "axes.accesslog": AccessLogFactory(),
        "axes.accessfailurelog": AccessFailureLogFactory(),
    }
    return w


def _picture(conversation, name):
    path = default_storage.save(f"attachments/{name}", ContentFile(b"\x89PNG\r\n\x1a\n"))
    return MessageFactory(
        conversation=conversation,
        type="image",
        body="",
        payload={"file": path, "mime_type": "image/png", "filename": name},
    )


# Building a client's handler loads the whole middleware stack (WhiteNoise scans the static files
# then), so the suite keeps one client per configuration and only swaps its cookies.
_CLIENTS: dict[tuple, Client] = {}


def client_as(world, persona: str, *, fresh_session: bool = False, **kwargs) -> Client:
    """A client logged in as ``persona`` with no other cookie; one session per persona and world
    unless ``fresh_session`` (a session survives every request but a logout)."""
    key = tuple(sorted(kwargs.items()))
    if key not in _CLIENTS:
        _CLIENTS[key] = Client(**kwargs)
    client = _CLIENTS[key]
    client.cookies = SimpleCookie()
    user = world.personas[persona]
    if user is None:
        return client
    if fresh_session:
        client.force_login(user)
        return client
    if persona not in world.sessions:
        client.force_login(user)
        world.sessions[persona] = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    client.cookies[django_settings.SESSION_COOKIE_NAME] = world.sessions[persona]
    return client
