"""No secret in any log line: the webhook handshake's verify token travels in the query string,
and neither the development server nor nginx may write it (issue 12, item 10)."""

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from config.log_filters import WebhookQueryStringFilter

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
TOKEN = "verify-token-that-must-not-be-logged-51c0"
HANDSHAKE = f"/webhooks/whatsapp/?hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=42"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_the_filter_cuts_the_query_string_of_webhook_urls_only():
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s %s',
        (f"GET {HANDSHAKE} HTTP/1.1", "200", "2"), None,
    )
    WebhookQueryStringFilter().filter(record)
    assert record.getMessage() == '"GET /webhooks/whatsapp/ HTTP/1.1" 200 2'

    other = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, "%s", ("GET /inbox/?q=dana HTTP/1.1",), None
    )
    WebhookQueryStringFilter().filter(other)
    assert other.getMessage() == "GET /inbox/?q=dana HTTP/1.1"


def test_the_development_server_logs_the_handshake_without_its_token(tmp_path):
    """`make run`'s web process (Procfile.dev: runserver --noreload), as a real server."""
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "WHATSAPP_VERIFY_TOKEN": TOKEN,
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "runserver.log"
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603 (our own argv)
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(base + "/login/", proc)
            answer = httpx.get(base + HANDSHAKE, timeout=10)
            assert answer.status_code == 200
            assert answer.text == "42"
            wrong = HANDSHAKE.replace(TOKEN, "guessed-wrong")
            assert httpx.get(base + wrong, timeout=10).status_code == 403
            time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    text = log.read_text()
    assert '"GET /webhooks/whatsapp/ HTTP/1.1" 200' in text
    assert '"GET /webhooks/whatsapp/ HTTP/1.1" 403' in text
    assert TOKEN not in text
    assert "guessed-wrong" not in text


# --- nginx ---------------------------------------------------------------------------------------
def _directives(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]*);", text, flags=re.MULTILINE)


def test_every_nginx_access_log_uses_a_format_without_the_query_string():
    conf = NGINX_CONF.read_text()
    formats = {}
    for body in _directives(conf, "log_format"):
        name, _, spec = body.partition(" ")
        formats[name] = spec
    access_logs = _directives(conf, "access_log")
    servers = len(re.findall(r"^server\s*\{", conf, flags=re.MULTILINE))
    assert len(access_logs) == servers, "each server block names its access log and format"
    for entry in access_logs:
        _path, fmt = entry.split()
        spec = formats[fmt]
        assert "$uri" in spec
        for leak in ("$request ", '$request"', "$request_uri", "$args", "$query_string", "$arg_"):
            assert leak not in spec, f"{fmt} logs {leak.strip()}"
    webhooks = re.search(r"location /webhooks/ \{(.*?)\n    \}", conf, flags=re.DOTALL)
    assert webhooks, "the webhook has a location of its own"
    assert re.search(r"error_log \S+ crit;", webhooks.group(1))


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"42")

    def log_message(self, *args):
        pass


def test_nginx_writes_the_handshake_without_its_token(tmp_path):
    """deploy/nginx.conf run by a real nginx (plain HTTP on loopback instead of TLS)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.skip("nginx is not installed")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = _free_port()
    conf = NGINX_CONF.read_text()
    # Loopback: plain HTTP on a free port, the test's upstream, logs in the test's folder.
    conf = re.sub(r"server \{\n    listen 80;.*?\n\}\n", "", conf, count=1, flags=re.DOTALL)
    conf = conf.replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
    conf = re.sub(r"^\s*(ssl_certificate\S*|http2)\s[^;]*;\n", "", conf, flags=re.MULTILINE)
    conf = conf.replace("server 127.0.0.1:8000", f"server 127.0.0.1:{upstream.server_port}")
    conf = conf.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "desk.conf").write_text(conf)
    (tmp_path / "main.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/main.error.log;\n"
        f"events {{}}\nhttp {{\n  client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy;\n  include {tmp_path}/desk.conf;\n}}\n"
    )
    proc = subprocess.Popen(  # noqa: S603 (our own argv)
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "main.conf"), "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/login/", proc)
        answer = httpx.get(f"http://127.0.0.1:{port}{HANDSHAKE}", timeout=10)
        assert answer.text == "42"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        upstream.shutdown()
    access = (tmp_path / "desk.access.log").read_text()
    assert '"GET /webhooks/whatsapp/ HTTP/1.1" 200' in access
    assert TOKEN not in access
