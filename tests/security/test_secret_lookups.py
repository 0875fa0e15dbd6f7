"""A secret field cannot be read back through an admin filter (issue 12, item 1).

Before the fix ``?access_token__startswith=EAAG`` on the channel changelist listed the channel
for a right guess and nothing for a wrong one, so a channel admin could recover any channel's
Meta token a character at a time. Now every lookup that reaches a secret field, directly or
through relations, in every admin of the site, is refused with the same 400.
"""

import httpx
import pytest
from django.contrib import admin
from django.test import RequestFactory

from tests.factories import (
    AdminUserFactory,
    ChannelFactory,
    ConversationFactory,
    OnboardingFactory,
    TemplateFactory,
)
from tests.security.secret_paths import secret_paths

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory
CHANNEL_TOKEN = "EAAGchannel-token-right-9f2c"
ONBOARDING_TOKEN = "EAAGonboarding-token-right-41d7"
SUFFIXES = ("", "__exact", "__iexact", "__startswith", "__istartswith", "__contains", "__regex")


def _registry():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.mark.django_db
def test_every_admin_refuses_every_lookup_that_reaches_a_secret_field():
    request = RequestFactory().get("/admin/")
    request.user = AdminUserFactory()
    allowed = []
    checked = 0
    for model, model_admin in _registry():
        for path in secret_paths(model, hops=3):
            for suffix in SUFFIXES:
                checked += 1
                if model_admin.lookup_allowed(path + suffix, "EAAG", request):
                    allowed.append(f"{type(model_admin).__name__}: {path}{suffix}")
    assert checked > 500, "the walk found almost no secret paths: is it still working?"
    assert not allowed, "lookups on secret fields allowed:\n" + "\n".join(allowed)


@pytest.mark.django_db
def test_ordinary_filters_still_work(admin_client):
    ChannelFactory(display_name="Filtered", is_active=False)
    response = admin_client.get("/admin/channels_app/channel/", {"is_active__exact": "0"})
    assert response.status_code == 200
    assert "Filtered" in response.text


def _guesses(path: str, right: str) -> list[tuple[str, str, str]]:
    """(query key, right guess, wrong guess) for each lookup kind on one path."""
    return [
        (path, right, "x" + right),
        (path + "__exact", right, "x" + right),
        (path + "__startswith", right[:4], "zzzz"),
        (path + "__contains", right[4:9], "zzzzz"),
        (path + "__regex", "^" + right[:4], "^zzzz"),
    ]


def _log_in(base: str, username: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=10)
    http.get("/admin/login/")
    login = http.post(
        "/admin/login/?next=/admin/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": base + "/admin/login/"},
    )
    assert login.status_code == 302, login.text[:500]
    return http


@pytest.fixture
def live_admin(_plain_http_live_server, live_server, settings, transactional_db):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    channel = ChannelFactory(access_token=CHANNEL_TOKEN)
    ConversationFactory(channel=channel)
    TemplateFactory(channel=channel)
    OnboardingFactory(access_token=ONBOARDING_TOKEN)
    superuser = AdminUserFactory(username="root_over_http")
    return live_server.url, superuser


def test_right_and_wrong_token_guesses_get_identical_answers_over_http(live_admin):
    base, superuser = live_admin
    http = _log_in(base, superuser.username)
    differing, compared = [], 0
    for model, _model_admin in _registry():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for path in secret_paths(model, hops=1):
            if path.endswith("password"):
                right = superuser.password  # the stored hash
            elif path.startswith("access_token") and model._meta.label == "onboarding.Onboarding":
                right = ONBOARDING_TOKEN
            else:
                right = CHANNEL_TOKEN
            for key, right_guess, wrong_guess in _guesses(path, right):
                a = http.get(url, params={key: right_guess})
                b = http.get(url, params={key: wrong_guess})
                compared += 1
                if (a.status_code, a.content) != (b.status_code, b.content):
                    differing.append(f"{url}?{key}: {a.status_code} vs {b.status_code}")
                else:
                    assert a.status_code == 400, f"{url}?{key} answered {a.status_code}"
    assert compared > 50
    assert not differing, "a right guess answers differently:\n" + "\n".join(differing)
