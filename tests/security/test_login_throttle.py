"""Login throttling on /login/ and /admin/login/ (issue 12, item 3).

Before: unlimited wrong passwords, nothing logged. Now django-axes counts failures per username
and per client address; at AXES_FAILURE_LIMIT the login page answers 429 with a clear message,
the right password included, until the cool-off has passed; an admin can unlock.
"""

import logging
from datetime import timedelta
from io import StringIO

import httpx
import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.utils import timezone

from tests.factories import AdminUserFactory, UserFactory

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory
LOGIN_PAGES = ("/login/", "/admin/login/")
LOCKED = "Too many failed logins for this account or from this address."


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 10
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.TRUSTED_PROXY_COUNT = 0


def attempt(client, page, username, password, **extra):
    return client.post(page, {"username": username, "password": password}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_ten_wrong_passwords_lock_the_account_and_refuse_the_right_one(client, page):
    user = UserFactory(username="dana", is_staff=True)
    answers = [attempt(client, page, "dana", f"wrong-{n}").status_code for n in range(10)]
    assert answers == [200] * 9 + [429]

    right = attempt(client, page, user.username, PASSWORD)
    assert right.status_code == 429
    assert LOCKED in right.text
    assert "15 minutes" in right.text
    assert not logged_in(client)


@pytest.mark.django_db
def test_the_lockout_ends_by_itself_after_the_cool_off(client):
    UserFactory(username="dana")
    for n in range(10):
        attempt(client, "/login/", "dana", f"wrong-{n}")
    assert attempt(client, "/login/", "dana", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = attempt(client, "/login/", "dana", PASSWORD)
    assert response.status_code == 302
    assert logged_in(client)


@pytest.mark.django_db
def test_one_address_trying_many_usernames_is_locked_out_too(client):
    UserFactory(username="dana")
    for n in range(10):
        attempt(client, "/login/", f"guess-{n}", "password", REMOTE_ADDR="198.51.100.7")
    refused = attempt(client, "/login/", "dana", PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert refused.status_code == 429
    elsewhere = attempt(client, "/login/", "dana", PASSWORD, REMOTE_ADDR="198.51.100.8")
    assert elsewhere.status_code == 302


@pytest.mark.django_db
def test_forwarded_for_counts_the_address_our_proxy_saw_not_the_clients_claim(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1  # deploy/nginx.conf appends the peer to X-Forwarded-For
    UserFactory(username="dana")
    for n in range(10):
        # Each request claims another address; nginx appended the real one last.
        spoofed = f"10.0.0.{n}, 203.0.113.50"
        attempt(client, "/login/", f"guess-{n}", "pw", HTTP_X_FORWARDED_FOR=spoofed)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.50"}
    refused = attempt(client, "/login/", "dana", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert refused.status_code == 429
    other = attempt(client, "/login/", "dana", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.51")
    assert other.status_code == 302


@pytest.mark.django_db
def test_without_trusted_proxies_the_header_is_ignored(client):
    for n in range(3):
        attempt(client, "/login/", "x", "pw", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


@pytest.mark.django_db
def test_each_failure_is_logged_with_username_and_address_but_not_the_password(client, caplog):
    caplog.set_level(logging.DEBUG)
    attempt(client, "/admin/login/", "mallory", "hunter2-secret-guess")
    attempt(client, "/login/", "mallory", "second-secret-guess")
    failures = [r.getMessage() for r in caplog.records if "login failure" in r.getMessage()]
    assert len(failures) == 2
    assert all('username: "mallory"' in line and "127.0.0.1" in line for line in failures)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert "hunter2-secret-guess" not in everything
    assert "second-secret-guess" not in everything
    stored = AccessAttempt.objects.get(username="mallory")
    assert "secret-guess" not in stored.post_data


@pytest.mark.django_db
def test_the_lockout_message_is_translated(client):
    UserFactory(username="dana")
    for n in range(10):
        attempt(client, "/login/", "dana", f"wrong-{n}")
    client.cookies["django_language"] = "de"
    response = attempt(client, "/login/", "dana", PASSWORD, HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 429
    assert "Zu viele fehlgeschlagene Anmeldungen" in response.text


@pytest.mark.django_db
def test_an_admin_unlocks_by_deleting_the_attempt_in_the_admin(client):
    UserFactory(username="dana")
    for n in range(10):
        attempt(client, "/login/", "dana", f"wrong-{n}", REMOTE_ADDR="198.51.100.9")
    locked = AccessAttempt.objects.get(username="dana")

    admin_client = type(client)()
    admin_client.force_login(AdminUserFactory())
    listing = admin_client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "dana" in listing.text
    index = admin_client.get("/admin/")
    assert "/admin/axes/accessattempt/" in index.text
    deleted = admin_client.post(
        f"/admin/axes/accessattempt/{locked.pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302

    unlocked = attempt(client, "/login/", "dana", PASSWORD, REMOTE_ADDR="198.51.100.9")
    assert unlocked.status_code == 302


@pytest.mark.django_db
def test_ops_unlock_with_the_axes_reset_username_command(client):
    UserFactory(username="dana")
    for n in range(10):
        attempt(client, "/login/", "dana", f"wrong-{n}", REMOTE_ADDR="198.51.100.10")
    call_command("axes_reset_username", "dana", stdout=StringIO())
    ok = attempt(client, "/login/", "dana", PASSWORD, REMOTE_ADDR="198.51.100.11")
    assert ok.status_code == 302


# --- over HTTP, on the running server ---------------------------------------------------------
def _post_login(http: httpx.Client, base: str, page: str, username: str, password: str):
    http.get(page)
    return http.post(
        page,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
        },
        headers={"Referer": base + page},
    )


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_twenty_wrong_passwords_over_http_end_in_refusal(
    page, _plain_http_live_server, live_server, settings, transactional_db
):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    AdminUserFactory(username="root_http")
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        answers = [
            _post_login(http, live_server.url, page, "root_http", f"nope-{n}").status_code
            for n in range(20)
        ]
        right = _post_login(http, live_server.url, page, "root_http", PASSWORD)
    assert answers[:9] == [200] * 9
    assert answers[9:] == [429] * 11
    assert right.status_code == 429
    assert LOCKED in right.text
    assert "sessionid" not in http.cookies
