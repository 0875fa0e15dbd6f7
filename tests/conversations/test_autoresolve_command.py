"""`manage.py autoresolve`: flags, output, exit codes, and stopping on SIGTERM."""

import io
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection
from django.utils import timezone

from config.management import DeskCommand
from conversations.management.commands.autoresolve import Command
from conversations.models import Contact, Conversation, Event
from tests.factories import ChannelFactory, ContactFactory, ConversationFactory, UserFactory

DAY = timedelta(days=1)


def waiting(channel, status, days, **kwargs):
    at = timezone.now() - days * DAY
    return ConversationFactory(
        channel=channel, status=status, opened_at=at, last_activity_at=at, **kwargs
    )


def run(*args, stdout=None) -> str:
    out = stdout or io.StringIO()
    call_command("autoresolve", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def support(db):
    return ChannelFactory(
        display_name="Acme Support",
        phone_number_id="109876543210987",
        auto_resolve_new_after=7 * DAY,
        auto_resolve_pending_after=30 * DAY,
    )


@pytest.fixture
def sales(db):
    return ChannelFactory(display_name="Acme Sales", auto_resolve_new_after=DAY)


def snapshot():
    return (
        sorted(
            Conversation.objects.values_list(
                "pk", "status", "assignee_id", "resolved_at", "last_activity_at"
            )
        ),
        Event.objects.count(),
    )


def test_dry_run_reports_counts_per_channel_and_queue_and_changes_nothing(support, sales):
    agent = UserFactory()
    for _ in range(3):
        waiting(support, "new", 8, assignee=agent)
    waiting(support, "pending", 31)
    waiting(support, "pending", 29)
    waiting(sales, "new", 2)
    before = snapshot()

    output = run("--dry-run")

    assert snapshot() == before
    assert f"#{support.pk} Acme Support: 3 from New, 1 from Pending" in output
    assert f"#{sales.pk} Acme Sales: 1 from New, 0 from Pending" in output
    assert "total: 5 (4 from New, 1 from Pending)" in output
    assert "Dry run: nothing was changed." in output


def test_run_resolves_and_prints_a_summary(support, sales):
    waiting(support, "new", 8)
    waiting(sales, "new", 2)
    young = waiting(sales, "pending", 2)

    output = run("--batch-size", "1")

    assert f"#{support.pk} Acme Support: 1 from New, 0 from Pending" in output
    assert "2 conversations resolved in 2 batches" in output
    assert Conversation.objects.filter(status="resolved").count() == 2
    young.refresh_from_db()
    assert young.status == "pending"
    assert Event.objects.filter(kind=Event.Kind.AUTO_RESOLVED).count() == 2


def test_nothing_due_says_so(support):
    waiting(support, "new", 1)

    output = run()

    assert "nothing" in output
    assert "0 conversations resolved in 0 batches" in output


@pytest.mark.parametrize("pick", ["id", "phone_number_id"])
def test_channel_option_accepts_an_id_or_a_phone_number_id(support, sales, pick):
    waiting(support, "new", 8)
    other = waiting(sales, "new", 8)

    output = run("--channel", str(getattr(support, pick)))

    assert "1 conversations resolved" in output
    other.refresh_from_db()
    assert other.status == "new"


@pytest.mark.parametrize("value", ["999999", "abc", "", "12; DROP TABLE x", "-1"])
def test_unknown_channel_is_refused_with_a_message(support, value):
    waiting(support, "new", 8)

    with pytest.raises(CommandError, match=r"Unknown channel .*: give a channel id or its phone"):
        run("--channel", value)

    assert not Event.objects.exists()


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5", "50001"])
def test_bad_batch_size_is_refused_with_a_message(db, value):
    with pytest.raises(CommandError, match="--batch-size must be a whole number from 1 to 50000"):
        run("--batch-size", value)


def test_bad_arguments_exit_non_zero_with_the_message_on_stderr(db, capsys):
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "autoresolve", "--channel", "nope"])

    assert exit_info.value.code == 1
    assert "CommandError: Unknown channel 'nope'" in capsys.readouterr().err


def test_parser_is_built_without_touching_the_database():
    # No db fixture: pytest-django makes any query here an error.
    parser = Command().create_parser("manage.py", "autoresolve")
    assert "--dry-run" in parser.format_help()


def test_plain_output_prints_batch_lines_at_verbosity_2(support):
    for _ in range(3):
        waiting(support, "new", 8)
    out = io.StringIO()

    call_command("autoresolve", "--batch-size", "1", verbosity=2, stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "batch 1: 1 resolved so far",
        "batch 2: 2 resolved so far",
        "batch 3: 3 resolved so far",
    ]
    assert "\r" not in out.getvalue()


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_terminal_gets_a_progress_bar(support):
    for _ in range(4):
        waiting(support, "new", 8)

    output = run("--batch-size", "2", stdout=Terminal())

    assert "\r[" + "#" * 15 + "." * 15 + "] 2/4  50%" in output
    assert "\r[" + "#" * 30 + "] 4/4 100%" in output
    assert "4 conversations resolved in 2 batches" in output


def test_sigterm_sets_the_stop_flag_and_the_old_handler_comes_back():
    command = DeskCommand()
    before = signal.getsignal(signal.SIGTERM)

    with command.stop_on_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        assert command.stop_requested

    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.django_db(transaction=True)
def test_sigterm_finishes_the_current_batch_and_stops(on_postgres):
    """The real command in its own process, against the test database."""
    channel = ChannelFactory(auto_resolve_new_after=DAY)
    contacts = Contact.objects.bulk_create(ContactFactory.build_batch(400))
    at = timezone.now() - 3 * DAY
    Conversation.objects.bulk_create(
        Conversation(channel=channel, contact=c, opened_at=at, last_activity_at=at)
        for c in contacts
    )
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}"
        f"/{db['NAME']}",
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "autoresolve", "--batch-size", "1", "-v", "2"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    connection.close()  # the child's batches are committed; read them fresh

    assert first_line == "batch 1: 1 resolved so far\n", err
    assert proc.returncode == 0, err
    assert "Stopped on SIGTERM after a whole batch" in out
    resolved = Conversation.objects.filter(status="resolved").count()
    assert 1 <= resolved < 400
    assert Event.objects.filter(kind=Event.Kind.AUTO_RESOLVED).count() == resolved
    assert f"{resolved} conversations resolved in {resolved} batches" in out
