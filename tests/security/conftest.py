"""The fixture world of the security tests: the cast, two admin-only personas, and one object of
every kind a URL can name."""

from http.cookies import SimpleCookie
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client, override_settings

from channels_app.models import MessageTemplate
from tests.conftest import cast as cast_fixture
from tests.factories import (
    ContactFactory,
    ConversationFactory,
    GroupFactory,
    MessageFactory,
    OnboardingFactory,
    TagFactory,
    TemplateFactory,
    TopicFactory,
    UserFactory,
)

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def world_media(tmp_path_factory):
    return tmp_path_factory.mktemp("security-media")


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker, world_media):
    """The world, built once per test module inside a transaction that is rolled back at its end.

    Each test still runs in its own savepoint (pytest-django's ``db``), so whatever a request
    changes is undone before the next test; only building the world and logging the personas in
    is shared, which is most of the cost of a test that makes a handful of requests.
    """
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            # Module scope runs before the suite's per-test settings: apply the ones that
            # matter to building (fast hashes, files in a temporary media root) here too.
            with override_settings(PASSWORD_HASHERS=FAST_HASHERS, MEDIA_ROOT=world_media):
                built = _build_world()
                # Sessions are rows too: made here, they outlive each test's savepoint.
                for persona, user in built.personas.items():
                    if user is not None:
                        client = Client()
                        client.force_login(user)
                        built.sessions[persona] = client.cookies[
                            django_settings.SESSION_COOKIE_NAME
                        ].value
            yield built
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(shared_world, db, settings, world_media):
    settings.MEDIA_ROOT = world_media
    # Nothing here may reach a provider by accident: a discard port refuses at once.
    settings.WHATSAPP_GRAPH_URL = "http://127.0.0.1:9/v23.0"
    return shared_world


def _build_world():
    # The suite's own cast (tests/conftest.py), built outside the function-scoped fixture.
    cast = cast_fixture.__wrapped__(None)
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
    w.visible_file = _picture(visible, "visible.png")
    w.invisible_file = _picture(invisible, "invisible.png")
    w.sessions = {}
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
    client.cookies[django_settings.SESSION_COOKIE_NAME] = world.sessions[persona]
    return client
