"""Issue 12, item 2: a media id never makes the worker connect anywhere it chooses.

Every "no request" claim is proved with a real local HTTP server that records what it receives
(tests/whatsapp/recorder.py): an attacker's host, an internal address, or a fake Graph API.
"""

import json
import secrets

import httpx
import pytest

from channels_app.whatsapp.client import WhatsAppClient
from channels_app.whatsapp.media_policy import (
    MAX_BYTES,
    MediaRefused,
    download_refusal,
    is_media_id,
)
from channels_app.whatsapp.webhooks import parse, sign
from conversations import media
from conversations.models import Message
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory
from tests.whatsapp.conftest import APP_SECRET, WEBHOOK_PATH, fixture_json
from tests.whatsapp.recorder import Answer, Recorder

TOKEN = "channel-bearer-token-never-leaves"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture
def graph():
    """A fake Graph API (and, when listed in WHATSAPP_MEDIA_HOSTS, an allowed media host)."""
    server = Recorder().start()
    yield server
    server.stop()


@pytest.fixture
def internal():
    """An address the worker must never reach: the cloud metadata service, an admin panel."""
    server = Recorder().start()
    yield server
    server.stop()


@pytest.fixture
def api(graph, settings):
    settings.WHATSAPP_GRAPH_URL = f"{graph.url}/v23.0"
    settings.WHATSAPP_MEDIA_HOSTS = ["lookaside.fbsbx.com", graph.url]
    settings.WHATSAPP_HTTP_TIMEOUT = 5.0
    return WhatsAppClient(TOKEN)


def media_info(graph, media_id, url, mime="image/png", size=None):
    body = {"id": media_id, "url": url, "mime_type": mime, "messaging_product": "whatsapp"}
    if size is not None:
        body["file_size"] = size
    graph.answers[f"/v23.0/{media_id}"] = Answer(
        200, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )


# --- the id ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    ["{url}/latest/meta-data", "//evil.example/x", "../../me", "123/../456", "12a", "", "١٢٣"],
)
def test_a_media_id_that_is_not_digits_makes_no_request_at_all(api, graph, internal, bad):
    with pytest.raises(MediaRefused):
        api.get_media(bad.format(url=internal.url))
    assert graph.requests == [] and internal.requests == []


def test_the_parser_refuses_a_url_as_media_id():
    assert is_media_id("1043820517731956")
    assert not is_media_id("http://169.254.169.254/") and not is_media_id(1043820517731956)
    payload = fixture_json("image")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["id"] = (
        "http://169.254.169.254/latest/meta-data"
    )
    (event,) = parse(json.dumps(payload).encode())
    # Stored as unreadable (its raw JSON kept for people), never as media to download.
    assert event.type == "unreadable" and event.media_id == ""
    assert "media id" in json.dumps(event.payload)


def test_a_file_name_loses_its_bidi_controls_when_parsed():
    payload = fixture_json("document")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["document"]["filename"] = "invoice\u202efdp.exe"
    (event,) = parse(json.dumps(payload).encode())
    assert event.payload["filename"] == "invoicefdp.exe"


# --- the download URL ------------------------------------------------------------------------
def test_a_download_url_on_another_host_is_never_fetched(api, graph, internal):
    media_info(graph, "1001", f"{internal.url}/admin")
    info = api.get_media("1001")
    with pytest.raises(MediaRefused, match="not allowed"):
        api.download_media(info.url, kind="image", declared_type=info.mime_type)
    assert internal.requests == []


def test_plain_http_is_refused_unless_the_host_is_listed_with_http(api, graph, settings):
    graph.answers["/m/1"] = Answer(200, PNG, {"Content-Type": "image/png"})
    port = graph.url.rsplit(":", 1)[1]
    settings.WHATSAPP_MEDIA_HOSTS = [f"127.0.0.1:{port}", f"https://127.0.0.1:{port}"]
    with pytest.raises(MediaRefused):
        api.download_media(f"{graph.url}/m/1", kind="image")
    assert graph.requests == []
    settings.WHATSAPP_MEDIA_HOSTS = [graph.url]
    assert api.download_media(f"{graph.url}/m/1", kind="image").read() == PNG
    assert graph.requests[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_meta_media_host_is_allowed_over_https_only(settings):
    settings.WHATSAPP_MEDIA_HOSTS = ["lookaside.fbsbx.com"]
    meta = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1"
    assert download_refusal(meta) == ""
    assert download_refusal("http://lookaside.fbsbx.com/x") != ""
    assert download_refusal("https://lookaside.fbsbx.com.evil.example/x") != ""
    assert download_refusal("https://user:pw@lookaside.fbsbx.com/x") != ""
    assert download_refusal("file:///etc/passwd") != ""


def test_a_redirect_is_never_followed_and_carries_no_token(api, graph, internal):
    graph.answers["/m/2"] = Answer(302, b"", {"Location": f"{internal.url}/steal"})
    with pytest.raises(MediaRefused, match="302"):
        api.download_media(f"{graph.url}/m/2", kind="image")
    assert internal.requests == []


@pytest.mark.parametrize("kind", ["image", "sticker"])
@pytest.mark.parametrize("chunked", [False, True])
def test_a_file_over_whatsapps_limit_for_its_type_is_refused(api, graph, kind, chunked):
    limit = MAX_BYTES[kind]
    mime = "image/webp" if kind == "sticker" else "image/png"
    graph.answers["/m/big"] = Answer(200, b"x" * (limit + 1), {"Content-Type": mime}, chunked)
    with pytest.raises(MediaRefused, match="larger than"):
        api.download_media(f"{graph.url}/m/big", kind=kind)
    graph.answers["/m/fits"] = Answer(200, b"x" * limit, {"Content-Type": mime}, chunked)
    assert api.download_media(f"{graph.url}/m/fits", kind=kind).size == limit


def test_whatsapps_limits_per_type():
    mib = 2**20
    assert {
        "image": 5 * mib,
        "audio": 16 * mib,
        "video": 16 * mib,
        "document": 100 * mib,
        "sticker": 500 * 1024,
    } == MAX_BYTES


def test_an_answer_whose_type_does_not_fit_the_message_is_refused(api, graph):
    graph.answers["/m/page"] = Answer(200, b"<script>1</script>", {"Content-Type": "text/html"})
    with pytest.raises(MediaRefused, match="text/html"):
        api.download_media(f"{graph.url}/m/page", kind="image")
    graph.answers["/m/audio"] = Answer(200, b"OggS", {"Content-Type": "audio/ogg"})
    with pytest.raises(MediaRefused):
        api.download_media(f"{graph.url}/m/audio", kind="image", declared_type="image/png")
    assert api.download_media(f"{graph.url}/m/audio", kind="audio").read() == b"OggS"


# --- the whole download, as the worker runs it -----------------------------------------------
@pytest.mark.django_db
def test_the_stored_file_is_named_from_our_ids_only(api, graph, settings):
    conversation = ConversationFactory()
    message = MessageFactory(
        conversation=conversation,
        type=Message.Type.DOCUMENT,
        body="",
        payload={"media_id": "2002", "filename": "../../../evil\u202eLMTH.pdf"},
    )
    media_info(graph, "2002", f"{graph.url}/m/doc", mime="application/pdf")
    graph.answers["/m/doc"] = Answer(200, b"%PDF-1.4", {"Content-Type": "application/pdf"})
    path = media.download_inbound_media(message.pk)
    assert path == f"whatsapp/{conversation.channel_id}/{message.pk}.pdf"
    assert (settings.MEDIA_ROOT / path).read_bytes() == b"%PDF-1.4"
    message.refresh_from_db()
    assert message.payload["file_type"] == "application/pdf"


@pytest.mark.django_db
def test_a_refused_download_is_recorded_and_reaches_nobody(api, graph, internal):
    message = MessageFactory(
        conversation=ConversationFactory(), type=Message.Type.IMAGE, payload={"media_id": "3003"}
    )
    media_info(graph, "3003", f"{internal.url}/latest/meta-data/iam")
    assert media.download_inbound_media(message.pk) == "failed"
    message.refresh_from_db()
    assert "not allowed" in message.payload["download_error"]
    assert "file" not in message.payload
    assert internal.requests == []


# --- acceptance over HTTP: a signed webhook whose media id is a URL --------------------------
@pytest.mark.django_db(transaction=True)
def test_a_signed_webhook_with_a_url_as_media_id_causes_no_outbound_request(
    _plain_http_live_server, live_server, settings, graph, internal, eager_tasks
):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_GRAPH_URL = f"{graph.url}/v23.0"
    # Even a listed host is never reached through an id: an id is no URL.
    settings.WHATSAPP_MEDIA_HOSTS = [graph.url, internal.url]
    channel = ChannelFactory()
    payload = fixture_json("image")
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = channel.phone_number_id
    value["messages"][0]["id"] = f"wamid.{secrets.token_hex(12)}"
    value["messages"][0]["image"]["id"] = f"{internal.url}/latest/meta-data/iam"
    body = json.dumps(payload).encode()
    response = httpx.post(
        live_server.url + WEBHOOK_PATH,
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)},
        timeout=10,
    )
    assert response.status_code == 200  # the message is kept, as unreadable
    assert internal.requests == [] and graph.requests == []
    assert Message.objects.get(channel=channel).type == "unreadable"
    stored = [m.payload.get("media_id", "") for m in Message.objects.filter(channel=channel)]
    assert not any("://" in str(media_id) for media_id in stored)
