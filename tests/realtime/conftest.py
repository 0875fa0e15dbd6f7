"""The live pages' fixtures: the ASGI application under uvicorn on a free port (HTTP and the
websockets, as `make run` serves them), the WhatsApp emulator delivering its webhooks there, a
headless Chromium, and signed-in sockets.

The channel layer is whatever the settings choose: Redis pub/sub when REDIS_URL is set (CI),
else the in-memory layer fed by the database bus (as `make run`). Either way the pushes cross a
real transport: the test's own thread (or the server's request threads) publish, the server's
event loop delivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import shutil
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn
from channels.routing import ProtocolTypeRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from realtime import bus

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,HttpsFirstModeV2",
]
APP_SECRET = "test-app-secret"
WEBHOOK_PATH = "/webhooks/whatsapp/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AsgiServer:
    """config.asgi under uvicorn in a thread of this process (so it sees the test database)."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        asgi = importlib.import_module("config.asgi")
        # Built at import with the settings of that moment: reload with the test's plain http.
        asgi.django_asgi.load_middleware(is_async=True)
        # Static files from the apps' folders (no collectstatic), as the live server serves them.
        application = ProtocolTypeRouter(
            {
                "http": ASGIStaticFilesHandler(asgi.django_asgi),
                "websocket": asgi.application.application_mapping["websocket"],
            }
        )
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> AsgiServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")  # its settings changes end with the module
def asgi_server(django_db_setup, django_db_blocker):
    from channels import layers
    from django.conf import settings

    saved = {
        name: getattr(settings, name)
        for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
    }
    saved_layers, saved_poll = settings.CHANNEL_LAYERS, settings.REALTIME_BUS_POLL_S
    for name in saved:
        setattr(settings, name, False)
    # A prefix of its own: other test runs may share the Redis server (pub/sub ignores db numbers).
    layer = json.loads(json.dumps(settings.CHANNEL_LAYERS))
    if "CONFIG" in layer["default"]:
        layer["default"]["CONFIG"]["prefix"] = f"desk-test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = layer
    settings.REALTIME_BUS_POLL_S = 0.1
    layers.channel_layers.backends = {}
    with django_db_blocker.unblock():
        server = AsgiServer().start()
        yield server
        server.stop()
    for name, value in saved.items():
        setattr(settings, name, value)
    settings.CHANNEL_LAYERS, settings.REALTIME_BUS_POLL_S = saved_layers, saved_poll
    layers.channel_layers.backends = {}


@pytest.fixture(scope="module")
def rt_emulator(asgi_server):
    from devtools.whatsapp_emulator import Emulator, EmulatorConfig

    emulator = Emulator(
        EmulatorConfig(
            app_secret=APP_SECRET,
            webhook_url=asgi_server.url + WEBHOOK_PATH,
            status_delay=0.4,
            webhook_retry_delays=(0.05, 0.1, 0.2),
        )
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def live_desk(asgi_server, rt_emulator, settings, transactional_db):
    """The server and the emulator, the settings pointed at the emulator, eager tasks."""
    from config.celery import app

    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = "test-verify-token"
    settings.WHATSAPP_GRAPH_URL = rt_emulator.graph_url
    settings.WHATSAPP_HTTP_TIMEOUT = 5.0
    app.conf.task_always_eager = True
    rt_emulator.reset_switches()
    yield asgi_server
    rt_emulator.idle(timeout=10)
    app.conf.task_always_eager = False
    # The sockets' disconnect handlers (presence writes) finish before the tables are flushed:
    # a flush meeting one of their transactions deadlocks on PostgreSQL.
    deadline = time.monotonic() + 10
    while bus.relay.sockets and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)


def session_cookie(user) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture(scope="module")  # Playwright's loop must not outlive the module: other
def chromium():  # tests of the session run asyncio / async_to_sync in this thread
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium, live_desk):
    """``open_page(user, path, locale="en")``: a page of ``user`` (their session cookie) at
    ``path`` on the ASGI server; every page is closed at the end."""
    from django.conf import settings

    contexts = []

    def opener(user, path, *, locale="en", viewport=None, routes=None):
        context = chromium.new_context(
            locale=locale, viewport=viewport or {"width": 1366, "height": 900}
        )
        contexts.append(context)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": session_cookie(user),
                    "url": live_desk.url,
                },
                {"name": settings.LANGUAGE_COOKIE_NAME, "value": locale, "url": live_desk.url},
            ]
        )
        for pattern, handler in (routes or {}).items():
            context.route(pattern, handler)
        page = context.new_page()
        page.frames_received = []
        page.on(
            "websocket",
            lambda ws: ws.on("framereceived", lambda payload: page.frames_received.append(payload)),
        )
        page.goto(live_desk.url + path)
        return page

    yield opener
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


def run_scenario(scenario) -> None:
    """``asyncio.run(scenario())`` in a thread of its own: this thread may hold another loop
    (Playwright's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, scenario()).result()


async def read_until(ws, predicate, *, timeout=5.0):
    """Frames from ``ws`` until one satisfies ``predicate`` (returned) or the time runs out
    (None); every frame read is appended to ``ws.seen``."""
    deadline = asyncio.get_running_loop().time() + timeout
    seen = ws.__dict__.setdefault("seen", [])
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return None
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        except TimeoutError:
            return None
        seen.append(frame)
        if predicate(frame):
            return frame
