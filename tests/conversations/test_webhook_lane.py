"""The webhook's request path: its lane through the middleware (conversations/webhook_lane.py)
and, on PostgreSQL, one statement per single-message delivery with the connection checked by
that statement instead of a ``SELECT 1`` first (conversations/services/inbound_sql.py)."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.whatsapp.webhooks import sign
from conversations.models import Message
from tests.factories import ChannelFactory
from tests.whatsapp.conftest import APP_SECRET, fixture_json, post_signed

PNID = "109876543210987"  # the fixture's phone_number_id


@pytest.fixture
def channel(db, settings):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = "lane-verify-token"
    return ChannelFactory(phone_number_id=PNID)


def text_message(wamid: str) -> dict:
    body = fixture_json("text_reply")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
    return body


def test_a_webhook_skips_session_and_user_and_keeps_the_security_headers(client, channel):
    response = post_signed(client, text_message("wamid.lane.1"))
    assert response.status_code == 200
    assert response.json() == {"messages": 1}
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user")
    assert response.cookies == {}
    assert response["Content-Length"] == str(len(response.content))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert Message.objects.filter(provider_message_id="wamid.lane.1").count() == 1


def test_a_bad_signature_is_still_refused_in_the_lane(client, channel):
    response = post_signed(client, text_message("wamid.lane.2"), secret="not-the-app-secret")
    assert response.status_code == 403
    assert not hasattr(response.wsgi_request, "session")
    assert not Message.objects.exists()


def test_a_host_outside_allowed_hosts_is_refused_in_the_lane_too(client, channel):
    body = json.dumps(text_message("wamid.lane.host")).encode()
    response = client.post(
        "/webhooks/whatsapp/", data=body, content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body, APP_SECRET), HTTP_HOST="evil.example",
    )  # fmt: skip
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_the_verification_handshake_goes_through_the_lane(client, channel):
    response = client.get(
        "/webhooks/whatsapp/",
        {"hub.mode": "subscribe", "hub.verify_token": "lane-verify-token", "hub.challenge": "42"},
    )
    assert (response.status_code, response.content) == (200, b"42")
    assert not hasattr(response.wsgi_request, "session")


def test_a_medium_nobody_registered_and_every_other_page_take_the_full_stack(client, channel):
    response = client.post("/webhooks/carrier-pigeon/", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert hasattr(response.wsgi_request, "session")
    login = client.get("/login/")
    assert login.status_code == 200
    assert hasattr(login.wsgi_request, "session") and hasattr(login.wsgi_request, "user")


def test_a_single_message_is_one_statement(client, channel, on_postgres):
    post_signed(client, text_message("wamid.lane.warm"))  # the statement prepared, as warm
    with CaptureQueriesContext(connection) as queries:
        response = post_signed(client, text_message("wamid.lane.3"))
    assert response.json() == {"messages": 1}
    # The prepared statement: psycopg keeps no text of it for Django's log, only its time.
    assert len(queries) == 1, queries


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_closed_is_replaced_and_the_message_stored_once(
    client, channel, on_postgres
):
    assert post_signed(client, text_message("wamid.lane.4")).status_code == 200
    # The server ends the connection between two requests (a restart, an idle timeout) ...
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    # ... and the next request begins (what close_old_connections leaves for it).
    connection.health_check_done = False
    response = post_signed(client, text_message("wamid.lane.5"))
    assert (response.status_code, response.json()) == (200, {"messages": 1})
    assert sorted(Message.objects.values_list("provider_message_id", flat=True)) == [
        "wamid.lane.4",
        "wamid.lane.5",
    ]
