"""Issue 12 item 4 on the production web server (gunicorn, config/gunicorn.py): a body larger than
Django's 2.5 MB is read and checked, a chunked one is read with the cap, and a Content-Length over
the cap is answered 413 without waiting for the body."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from channels_app.whatsapp.webhooks import sign

ROOT = Path(__file__).resolve().parents[2]
SECRET = "gunicorn-test-secret"
LIMIT = 4 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    env = {
        **os.environ,
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('db') / 'db.sqlite3'}",
        "WHATSAPP_APP_SECRET": SECRET,
        "CELERY_BROKER_URL": "memory://",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.py"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def _request(port: int, head: bytes, body_parts=(), *, timeout=20.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(head)
        for part in body_parts:
            conn.sendall(part)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def _head(*lines: str) -> bytes:
    base = ["POST /webhooks/whatsapp/ HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    return ("\r\n".join(base + list(lines)) + "\r\n\r\n").encode()


def _broken_envelope(size: int) -> bytes:
    """Signed-worthy JSON of ``size`` bytes whose envelope is wrong: a 400 that names it proves
    the whole body was read and its signature checked."""
    head, tail = b'{"object": "whatsapp_business_account", "entry": 5', b"}"
    return head + b" " * (size - len(head) - len(tail)) + tail


def _chunked(body: bytes, size: int = 256 * 1024):
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def test_a_3mb_body_is_read_and_checked_past_djangos_limit(server):
    body = _broken_envelope(3 * 1024 * 1024)
    answer = _request(server, _head(
        "Content-Type: application/json", f"Content-Length: {len(body)}",
        f"X-Hub-Signature-256: {sign(body, SECRET)}",
    ), [body])  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert answer.endswith(b"entry is not a list")


def test_a_chunked_body_is_read_with_the_cap(server):
    body = _broken_envelope(3 * 1024 * 1024)
    head = _head(
        "Content-Type: application/json", "Transfer-Encoding: chunked",
        f"X-Hub-Signature-256: {sign(body, SECRET)}",
    )  # fmt: skip
    answer = _request(server, head, _chunked(body))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert answer.endswith(b"entry is not a list")
    too_big = _broken_envelope(LIMIT + 1)
    answer = _request(server, head, _chunked(too_big))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]


def test_a_content_length_over_the_cap_is_413_before_the_body_is_sent(server):
    started = time.monotonic()
    answer = _request(server, _head(
        "Content-Type: application/json", f"Content-Length: {LIMIT + 1}",
        "X-Hub-Signature-256: sha256=00",
    ), timeout=10)  # fmt: skip — not a byte of the body is ever sent
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert time.monotonic() - started < 5
