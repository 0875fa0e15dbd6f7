"""Issue 12, item 8: attachments only through the access-checked view, in every mode.

MEDIA_URL is never served (not with DEBUG either: what `make run` uses); the view sends anything
but raster images, audio and video as a download, always with nosniff and a sandboxing CSP.
"""

import importlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import clear_url_caches, reverse

import config.urls
from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory

ROOT = Path(__file__).resolve().parents[2]
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def stored_media(conversation, *, mime, content=PNG, filename=None, kind=Message.Type.DOCUMENT):
    path = default_storage.save(
        f"whatsapp/{conversation.channel_id}/{conversation.pk}.bin", ContentFile(content)
    )
    payload = {"media_id": "1043820517000001", "mime_type": mime, "file": path}
    if filename:
        payload["filename"] = filename
    message = MessageFactory(conversation=conversation, type=kind, body="", payload=payload)
    return message, path


@pytest.fixture
def urlconf_with(settings):
    """Load config/urls.py again under a DEBUG value (it is read at import), then restore."""

    def load(debug: bool):
        settings.DEBUG = debug
        importlib.reload(config.urls)
        clear_url_caches()

    yield load
    settings.DEBUG = False
    importlib.reload(config.urls)
    clear_url_caches()


@pytest.mark.parametrize("debug", [True, False], ids=["DEBUG", "production"])
def test_anonymous_get_of_the_file_url_is_refused_in_every_mode(client, cast, urlconf_with, debug):
    urlconf_with(debug)
    message, path = stored_media(ConversationFactory(channel=cast.channel), mime="image/png")
    assert (django_settings.MEDIA_ROOT / path).exists()
    response = client.get(f"/{django_settings.MEDIA_URL}{path}")
    assert response.status_code == 404
    # Logged in but without access to the channel: the same refusal.
    client.force_login(cast.outsider)
    assert client.get(f"/{django_settings.MEDIA_URL}{path}").status_code == 404
    view = reverse("conversations:attachment", args=[message.conversation_id, message.pk])
    assert client.get(view).status_code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("debug", ["1", "0"], ids=["make-run-DEBUG", "production"])
def test_a_running_dev_server_refuses_the_file_url(tmp_path, debug):
    """Over HTTP: `manage.py runserver` as `make run` starts it (DEBUG=1), and with DEBUG=0."""
    media_root = tmp_path / "media"
    (media_root / "whatsapp" / "1").mkdir(parents=True)
    (media_root / "whatsapp" / "1" / "7.html").write_bytes(b"<script>alert(1)</script>")
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": debug,
        "MEDIA_ROOT": str(media_root),
        "SECRET_KEY": "x" * 60 + "Yz1!",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/media/whatsapp/1/7.html", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert response.status_code == 404
        assert b"alert(1)" not in response.content
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.parametrize(
    ("mime", "inline"),
    [
        ("image/png", True),
        ("image/jpeg", True),
        ("audio/ogg", True),
        ("video/mp4", True),
        ("image/svg+xml", False),
        ("text/html", False),
        ("application/pdf", False),
        ("application/octet-stream", False),
        ("text/xml", False),
    ],
)
def test_only_images_audio_and_video_are_inline_and_every_answer_is_sandboxed(
    client, cast, mime, inline
):
    message, _path = stored_media(
        ConversationFactory(channel=cast.channel), mime=mime, filename="file.bin"
    )
    client.force_login(cast.viewer)
    response = client.get(
        reverse("conversations:attachment", args=[message.conversation_id, message.pk])
    )
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("inline") if inline else disposition.startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert csp.startswith("sandbox") and "default-src 'none'" in csp


def test_the_downloaded_type_wins_over_the_type_the_webhook_named(client, cast):
    """A forged webhook may call an HTML page an image: the type the download answered with
    (stored as file_type) decides, and the file still goes out as a download."""
    message, _path = stored_media(
        ConversationFactory(channel=cast.channel), mime="image/png", content=b"<html>"
    )
    Message.objects.filter(pk=message.pk).update(
        payload={**message.payload, "file_type": "text/html"}
    )
    client.force_login(cast.viewer)
    response = client.get(
        reverse("conversations:attachment", args=[message.conversation_id, message.pk])
    )
    assert response["Content-Type"] == "text/html"
    assert response["Content-Disposition"].startswith("attachment")


def test_the_download_name_has_no_bidi_controls(client, cast):
    message, _path = stored_media(
        ConversationFactory(channel=cast.channel),
        mime="application/pdf",
        filename="invoice\u202efdp.exe",
    )
    client.force_login(cast.viewer)
    response = client.get(
        reverse("conversations:attachment", args=[message.conversation_id, message.pk])
    )
    assert 'filename="invoicefdp.exe"' in response["Content-Disposition"]
