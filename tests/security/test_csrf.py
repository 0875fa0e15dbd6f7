"""CSRF is enforced on every POST of the project: without a token every URL refuses (403), with
one the same request goes through as tests/security/matrix.py says. The webhooks are the only
exempt views (WhatsApp's path and any medium's, /webhooks/<kind>/); a provider cannot send a
token, so the medium's signature (WhatsApp's HMAC) stands in for one."""

import json
import secrets

import pytest
from django.conf import settings

from channels_app.whatsapp.webhooks import sign
from tests.security.conftest import client_as
from tests.security.matrix import (
    ADMIN_LOGIN,
    ALLOWED,
    FORBIDDEN,
    LOGIN,
    NOT_ALLOWED,
    NOT_FOUND,
    PERSONAS,
    grouped,
    matrix,
    url_patterns,
)

PATTERNS = url_patterns()
MATRIX = matrix()
# The API's operations: authenticated by a bearer token, never a cookie, so a cross-site form
# (which cannot set an Authorization header) has nothing to ride on (docs/api.md).
EXEMPT = {"webhooks:whatsapp", "webhooks:inbound"} | {
    f"api-v1:{name}"
    for name in ("channels", "templates", "send_template", "conversation", "messages",
                 "list_webhooks", "create_webhook", "delete_webhook")
}  # fmt: skip
REFUSALS = (FORBIDDEN, NOT_FOUND, NOT_ALLOWED, LOGIN, ADMIN_LOGIN)


def _first_allowed(case):
    """The least privileged persona the matrix lets through, or None when nobody is."""
    for persona in PERSONAS:
        expected = case.expect[persona]
        if expected not in REFUSALS and getattr(expected, "code", 200) < 400:
            return persona
    return None


def _probe(key):
    """A request to ``key`` worth sending as a POST: its matrix POST case with a persona allowed
    to make it, else its first case as the admin."""
    cases = MATRIX[key]
    for case in cases:
        if case.method == "POST" and _first_allowed(case):
            return case, _first_allowed(case)
    return cases[0], "admin"


def test_only_the_whatsapp_webhook_is_csrf_exempt():
    exempt = {key for key, p in PATTERNS.items() if getattr(p.callback, "csrf_exempt", False)}
    assert exempt == EXEMPT


GROUPS = grouped(set(MATRIX) - EXEMPT)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_post_without_a_token_is_refused(group, world):
    wrong = []
    for key in GROUPS[group]:
        case, persona = _probe(key)
        client = client_as(
            world, persona, fresh_session=case.fresh_session, enforce_csrf_checks=True
        )
        response = client.post(case.url(world), case.data(world))
        if response.status_code != 403 or b"CSRF" not in response.content:
            wrong.append(f"[{key}] POST {case.url(world)} as {persona}: {response.status_code}")
    assert not wrong, "accepted without a CSRF token:\n" + "\n".join(wrong)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_post_with_the_token_goes_through(group, world):
    wrong = []
    for key in GROUPS[group]:
        for case in MATRIX[key]:
            persona = _first_allowed(case) if case.method == "POST" else None
            if persona is None:
                continue
            client = client_as(
                world, persona, fresh_session=case.fresh_session, enforce_csrf_checks=True
            )
            token = secrets.token_hex(16)  # 32 characters: a valid unmasked secret
            client.cookies[settings.CSRF_COOKIE_NAME] = token
            url = case.url(world)
            response = client.post(url, {**case.data(world), "csrfmiddlewaretoken": token})
            # The token also makes the POST non-empty, so an admin delete is confirmed this
            # time: any answer the matrix allows, or any other success, will do; not a 403.
            expected = case.expect[persona]
            if response.status_code == 403 or not (
                expected.matches(response) or ALLOWED.matches(response)
            ):
                wrong.append(f"[{key}] POST {url} as {persona}: {response.status_code}")
    assert not wrong, "refused with a valid CSRF token:\n" + "\n".join(wrong)


def test_the_webhook_takes_a_signature_instead_of_a_token(world, settings):
    settings.WHATSAPP_APP_SECRET = "csrf-test-app-secret"
    client = client_as(world, "anonymous", enforce_csrf_checks=True)
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    unsigned = client.post("/webhooks/whatsapp/", body, content_type="application/json")
    assert unsigned.status_code == 403
    assert b"signature" in unsigned.content
    signed = client.post(
        "/webhooks/whatsapp/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body, "csrf-test-app-secret"),
    )
    assert signed.status_code == 200
