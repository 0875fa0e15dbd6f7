"""Issue 12 item 5 on a real SQLite file: while the worker applies a large batch, a concurrent
login never meets "database is locked" and never waits long (the chunks keep each write
transaction short). Three processes, as in production: the worker, a user logging in again and
again, and this test reading the file at the end."""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 800

SETUP = """
from django.contrib.auth import get_user_model
from django.utils import timezone
from conversations.services import inbound_payloads
from tests.factories import ChannelFactory
from tests.whatsapp.test_inbound_payloads import _batch
ChannelFactory(phone_number_id="109876543210987")
get_user_model().objects.create_user("probe", password="probe-password-2026")
print(inbound_payloads.store_payload(_batch({messages}), now=timezone.now()).pk)
"""

WORKER = """
import time
from conversations.services import inbound_payloads
started = time.monotonic()
print(inbound_payloads.apply_payload({pk}), round(time.monotonic() - started, 2))
"""

PROBE = """
import json, time
from pathlib import Path
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
form = {{"username": "probe", "password": "probe-password-2026"}}

def login():
    started = time.monotonic()
    try:
        status = Client().post("/login/", form).status_code
        error = None if status == 302 else status
    except Exception as exc:
        error = repr(exc)[:200]
    return time.monotonic() - started, error

idle = [login() for _ in range(4)]  # how long a login takes on this machine, alone
Path("{ready}").write_text("ready")
during, deadline = [], time.monotonic() + 240
while time.monotonic() < deadline and not Path("{stop}").read_text():
    during.append(login())
print(json.dumps({{
    "idle": max(w for w, _ in idle[1:]),
    "logins": len(during),
    "max_wait": max((w for w, _ in during), default=0),
    "errors": [e for _, e in idle + during if e is not None],
}}))
"""


def _run(code: str, env: dict, **kwargs):
    script = "import django; django.setup()\n" + textwrap.dedent(code)
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
        check=False, timeout=300, **kwargs,
    )  # fmt: skip


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
def test_a_login_during_a_large_batch_never_meets_a_locked_database(tmp_path):
    database = tmp_path / "desk.sqlite3"
    stop = tmp_path / "stop"
    stop.write_text("")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_BROKER_URL": "memory://",
        "DEBUG": "1",
        "WEBHOOK_CHUNK_EVENTS": "50",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REDIS_URL", None)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], env=env, cwd=ROOT,
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    setup = _run(SETUP.format(messages=MESSAGES), env)
    assert setup.returncode == 0, setup.stderr[-2000:]
    pk = int(setup.stdout.strip().splitlines()[-1])

    ready = tmp_path / "ready"
    code = "import django; django.setup()\n" + PROBE.format(stop=stop, ready=ready)
    probe = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not ready.exists() and probe.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    worker = _run(WORKER.format(pk=pk), env)
    stop.write_text("stop")
    out, err = probe.communicate(timeout=120)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert worker.stdout.startswith(f"applied {MESSAGES} events"), worker.stdout
    result = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"stderr": err[-2000:]}
    assert result.get("errors") == [], result
    assert result["logins"] >= 3, result
    # Each chunk holds the write lock a fraction of a second and the worker hands the lock over
    # between chunks, so logins go on all along: none waits more than a small part of the
    # worker's run. One transaction for the whole batch (the old code) kept a login waiting for
    # all of it (and one longer than the 20 s busy timeout failed it).
    duration = float(worker.stdout.split()[-1])
    assert result["logins"] >= 5, (result, duration)
    assert result["max_wait"] < duration / 4, (result, duration)
    with sqlite3.connect(database) as db:
        count, distinct = db.execute(
            "SELECT count(*), count(DISTINCT provider_message_id) FROM conversations_message"
        ).fetchone()
    assert count == distinct == MESSAGES
