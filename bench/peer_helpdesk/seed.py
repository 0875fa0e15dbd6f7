"""Load N django-helpdesk tickets for the peer benchmark (run with the peer's virtualenv).

    PEER_DATABASE_URL=... bench/peer/venv/bin/python bench/peer_helpdesk/seed.py --tickets 1000000

Mix as in shared/reference/peer-django-helpdesk.md: 10 staff users (non-superusers), 5 queues,
status 35 % Open, 5 % Reopened, 20 % Resolved, 40 % Closed, 75 % assigned, 3 follow-ups per
ticket (with `time_spent`). Users and queues go through the ORM (helpdesk's signals create the
user settings its views need); tickets and follow-ups are generated in SQL with
`INSERT ... SELECT generate_series`, with the two tables' secondary indexes and foreign keys
dropped during the load and recreated after, as a bulk load would be done.

Every column of ticket i is a pure function of i (hashes for the mixes, one ticket a minute for
`created`), so the data is the same on every run and a larger N only appends tickets
count+1..N. An existing load with exactly N tickets is reused; one with more is rebuilt.
Prints one JSON line: {"tickets": N, "followups": ..., "seconds": ..., "reused": bool}.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_helpdesk.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from helpdesk.models import FollowUp, Queue, Ticket  # noqa: E402

STAFF = 10
QUEUES = 5
TIMED_USER = "agent01"
# Tickets are created one a minute from here: 1,000,000 tickets span about 23 months.
EPOCH = "2024-01-01 00:00:00+00"
LOADED_TABLES = ("helpdesk_ticket", "helpdesk_followup")


def _ensure_people_and_queues() -> tuple[list[int], list[int]]:
    user_model = get_user_model()
    staff = []
    for n in range(1, STAFF + 1):
        username = f"agent{n:02d}"
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_user(
                username=username,
                email=f"{username}@peer.example",
                password=None,
                is_staff=True,
            )
        staff.append(user.pk)
    queues = []
    for n in range(1, QUEUES + 1):
        queue, _ = Queue.objects.get_or_create(
            slug=f"q{n}",
            defaults={"title": f"Queue {n}", "allow_public_submission": False},
        )
        queues.append(queue.pk)
    return staff, queues


def _secondary_objects(cursor) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(table, name, definition) of the loaded tables' foreign keys, and their non-PK indexes."""
    cursor.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)
        ORDER BY 1, 2
        """,
        [list(LOADED_TABLES)],
    )
    fkeys = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary AND NOT i.indisunique
        ORDER BY 1
        """,
        [list(LOADED_TABLES)],
    )
    indexes = cursor.fetchall()
    return fkeys, indexes


def _load(cursor, *, first: int, last: int, staff: list[int], queues: list[int]) -> None:
    params = {"first": first, "last": last, "staff": staff, "queues": queues, "epoch": EPOCH}
    # h1..h4: independent, uniform 0..99 per ticket, so status, assignment, queue and priority
    # are not correlated with each other or with the id.
    cursor.execute(
        """
        INSERT INTO helpdesk_ticket (
            id, title, created, modified, submitter_email, status, on_hold, description,
            resolution, priority, due_date, last_escalation, assigned_to_id, queue_id,
            secret_key, kbitem_id, merged_to_id
        )
        SELECT
            i,
            'Ticket ' || i || ': ' || (ARRAY['printer jams', 'cannot log in', 'invoice wrong',
                'delivery late', 'refund request', 'password reset', 'app crashes',
                'change address'])[1 + h4 %% 8],
            created,
            created + interval '1 hour' * (1 + h1 %% 48),
            'customer' || (i %% 50000) || '@example.com',
            status,
            false,
            'The customer writes about their problem in a few sentences. Ticket ' || i
                || ' was opened by e-mail and needs an answer from the support team.',
            CASE WHEN status IN (3, 4) THEN 'Answered and solved.' END,
            1 + h3 %% 5,
            NULL, NULL,
            CASE WHEN h2 < 75 THEN (%(staff)s::int[])[1 + (i / 7) %% 10] END,
            (%(queues)s::int[])[1 + h3 %% 5],
            md5(i::text)::uuid::text,
            NULL, NULL
        FROM (
            SELECT
                i,
                %(epoch)s::timestamptz + interval '1 minute' * i AS created,
                CASE WHEN h1 < 35 THEN 1 WHEN h1 < 40 THEN 2 WHEN h1 < 60 THEN 3 ELSE 4 END
                    AS status,
                h1, h2, h3, h4
            FROM (
                SELECT
                    i,
                    (hashint4(i) & 2147483647) %% 100 AS h1,
                    (hashint4(i # 123456789) & 2147483647) %% 100 AS h2,
                    (hashint4(i # 987654321) & 2147483647) %% 100 AS h3,
                    (hashint4(-i) & 2147483647) %% 100 AS h4
                FROM generate_series(%(first)s::int, %(last)s::int) AS i
            ) AS hashed
        ) AS t
        """,
        params,
    )
    # Three follow-ups: the opening message, an agent's answer, and the last update (which
    # records the resolving/closing status change for resolved and closed tickets).
    cursor.execute(
        """
        INSERT INTO helpdesk_followup (
            ticket_id, date, title, comment, public, new_status, user_id, message_id,
            time_spent, email_recipients
        )
        SELECT
            t.id,
            t.created + interval '20 minutes' * k,
            CASE k WHEN 1 THEN 'Ticket Opened' WHEN 2 THEN 'Comment' ELSE 'Updated' END,
            'Follow-up ' || k || ' of ticket ' || t.id || ': we looked into it and replied.',
            true,
            CASE WHEN k = 3 AND t.status IN (3, 4) THEN t.status END,
            CASE WHEN k = 1 THEN NULL ELSE t.assigned_to_id END,
            NULL,
            CASE WHEN k = 1 THEN NULL ELSE interval '5 minutes' * k END,
            NULL
        FROM helpdesk_ticket t
        CROSS JOIN generate_series(1, 3) AS k
        WHERE t.id BETWEEN %(first)s AND %(last)s
        """,
        params,
    )


def seed(tickets: int) -> dict:
    """Make the peer's database hold exactly `tickets` generated tickets; returns a summary."""
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    staff, queues = _ensure_people_and_queues()
    have = Ticket.objects.count()
    if have == tickets:
        return {
            "tickets": tickets,
            "followups": FollowUp.objects.count(),
            "seconds": round(time.perf_counter() - started, 1),
            "reused": True,
        }
    with connection.cursor() as cursor:
        highest = Ticket.objects.order_by("-id").values_list("id", flat=True).first() or 0
        # Appending is only sound on top of an earlier load of tickets 1..have.
        if have > tickets or highest != have:
            cursor.execute("TRUNCATE helpdesk_ticket, helpdesk_followup RESTART IDENTITY CASCADE")
            have = 0
        with transaction.atomic():
            fkeys, indexes = _secondary_objects(cursor)
            for table, name, _definition in fkeys:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _definition in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            _load(cursor, first=have + 1, last=tickets, staff=staff, queues=queues)
            for _name, definition in indexes:
                cursor.execute(definition)
            for table, name, definition in fkeys:
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for table in LOADED_TABLES:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
        for table in LOADED_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {
        "tickets": Ticket.objects.count(),
        "followups": FollowUp.objects.count(),
        "seconds": round(time.perf_counter() - started, 1),
        "reused": False,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Seed django-helpdesk for the peer benchmark")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.tickets < 1:
        parser.error("--tickets must be at least 1")
    print(json.dumps(seed(args.tickets)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
