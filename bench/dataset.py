"""The inbox/conversation-page dataset: N conversations over 200 channels, ~5 messages each.

    DATABASE_URL=$(.venv/bin/python -m bench.pg start --db desk_pages_bench) \\
        .venv/bin/python -m bench.dataset [--conversations N] [--regenerate]

Everything is generated server-side with ``INSERT ... SELECT generate_series`` (no row crosses
the wire), into tables whose secondary indexes are dropped for the load and rebuilt after by
sorting, with foreign-key triggers off (the rows are consistent by construction), then
``VACUUM ANALYZE``. A marker table (``bench_dataset``) records N and the generator VERSION, so
a later run reuses a complete dataset instead of rebuilding it.

The database name must contain "bench": building truncates every desk table and the users.

Shape (N = 1,000,000):

* 200 channels, 40 groups of 5; two agents per group hold Contributor on their 5 channels and
  a Supervisor holds Supervisor on every channel (direct grants, as the admin writes them).
* N / 5 contacts, each with up to 5 conversations ("rounds") on one channel, oldest first; only
  a contact's latest conversation may be open, so the partial unique index
  ``one_open_conversation_per_contact`` holds. Latest ones: 30 % New (last activity in the last
  7 days), 30 % Pending (25 days), 40 % Resolved; earlier rounds Resolved over ~18 months.
  Overall about 6 % New, 6 % Pending, 88 % Resolved, as in a desk with years of history.
* 1 to 9 messages per conversation (5 on average), alternating in/out and ending inbound for New
  (the customer waits) and outbound for Pending (the agent waits); delivery states, provider
  ids, authors and timestamps as the services write them, and the conversation's
  ``last_message_preview``, ``last_activity_at``, ``last_customer_message_at``,
  ``first_response_at``, ``opened_at``, ``resolved_at`` and ``resolution`` derived from them.
* Events (opened, assigned, moved, resolved / auto-resolved), 12 tags on ~45 % of conversations,
  8 topics on ~25 %, a note on ~3 %, two approved templates per channel.
* One extra channel, "Bench long thread", with one Pending conversation of 500 messages, notes,
  events and five earlier conversations of the same contact: the conversation page benchmark.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bench.seed import insert_channels

VERSION = 1
DEFAULT_CONVERSATIONS = 1_000_000
CHANNELS = 200
GROUP = 5  # channels per agent group
AGENTS_PER_GROUP = 2
ROUNDS = 5  # conversations per contact
TAGS = [
    ("billing", "#2563eb"), ("refund", "#dc2626"), ("delivery", "#16a34a"),
    ("complaint", "#9333ea"), ("vip", "#ca8a04"), ("bug", "#db2777"), ("returns", "#0891b2"),
    ("urgent", "#ea580c"), ("spam", "#64748b"), ("feedback", "#65a30d"),
    ("warranty", "#7c3aed"), ("sales", "#0d9488"),
]  # fmt: skip
TOPICS = [
    "Orders", "Payments", "Shipping", "Account", "Product question", "Returns", "Technical",
    "Other",
]  # fmt: skip
THREAD_MESSAGES = 500
THREAD_CHANNEL = "Bench long thread"
SUPERVISOR = "pbench-supervisor"
AGENT = "pbench-agent-001"  # the agent persona: group 0 (channels 1-5) and the thread channel
SEARCH_WORD = "refund"  # appears in ~1 message in 12

FIRST_NAMES = [
    "Anna", "Ben", "Carla", "David", "Elif", "Felix", "Greta", "Hassan", "Ines", "Jonas",
    "Katrin", "Lukas", "Maria", "Niko", "Olga", "Paul", "Queenie", "Rosa", "Sami", "Tara",
    "Uwe", "Vera", "Wen", "Xenia", "Yusuf", "Zoe", "Mehmet", "Sofia", "Jan", "Lea",
]  # fmt: skip
LAST_NAMES = [
    "Schmidt", "Müller", "Yilmaz", "Rossi", "Garcia", "Nowak", "Novak", "Jensen", "Silva",
    "Dubois", "Smith", "Kowalski", "Weber", "Wagner", "Becker", "Hoffmann", "Klein", "Wolf",
    "Kaya", "Santos", "Meyer", "Fischer", "Schulz", "Lang", "Brown", "Kim", "Nguyen", "Haas",
    "Roth", "Berg",
]  # fmt: skip
INBOUND = [
    "Hi, where is my order #{n}? It was supposed to arrive yesterday.",
    "Hello, I would like a refund for order #{n}, the item arrived broken.",
    "Can I change the delivery address for order #{n}?",
    "The app keeps logging me out, can you help?",
    "Do you have this jacket in size M?",
    "I was charged twice for order #{n}.",
    "Thanks, that worked!",
    "When does the shop open on Saturday?",
    "My voucher code is not accepted at checkout.",
    "I still have not received my refund for #{n}.",
    "Is it possible to pick up the parcel myself?",
    "ok",
]
OUTBOUND = [
    "Thanks for reaching out! Let me check order #{n} for you.",
    "I am sorry to hear that. I have started a refund for #{n}; it takes 3-5 business days.",
    "Your parcel is with the courier and should arrive tomorrow.",
    "Could you send me a photo of the damaged item, please?",
    "I have updated the address on #{n}.",
    "Please try logging out and in again after updating the app.",
    "We are open from 9 to 18 on Saturdays.",
    "You are welcome! Is there anything else I can do?",
    "The voucher has expired, but I have applied a new one to your account.",
    "Yes, you can pick it up at our store with your order number.",
]

NOW_SQL = "%(now)s::timestamptz"


def _h(salt: int, var: str = "g") -> str:
    """A stable non-negative pseudo-random int4 of row number ``var`` (random() would make the
    dataset differ between runs and machines)."""
    return f"(hashint4(({var})::int * 16 + {salt}) & 2147483647)"


def _text_array(texts: list[str]) -> str:
    quoted = ", ".join("'" + t.replace("'", "''").replace("%", "%%") + "'" for t in texts)
    return f"ARRAY[{quoted}]"


# --- SQL expressions shared by the conversation and the message statements -------------------

# Is conversation g its contact's latest (the only one that may be open)?
LATEST = "(g + %(per_round)s >= %(n)s)"
STATUS = (
    f"CASE WHEN NOT {LATEST} THEN 'resolved' WHEN {_h(1)} %% 100 < 30 THEN 'new'"
    f" WHEN {_h(1)} %% 100 < 60 THEN 'pending' ELSE 'resolved' END"
)


def _n_messages(status: str, g: str = "g") -> str:
    return (
        f"(CASE {status} WHEN 'new' THEN 1 + {_h(3, g)} %% 7"
        f" WHEN 'pending' THEN 2 + {_h(3, g)} %% 8 ELSE 1 + {_h(3, g)} %% 9 END)"
    )


def _last_direction(status: str, g: str = "g") -> str:
    return (
        f"(CASE {status} WHEN 'new' THEN 'in' WHEN 'pending' THEN 'out'"
        f" ELSE (ARRAY['in', 'out'])[1 + {_h(4, g)} %% 2] END)"
    )


def _direction(status: str, n: str, k: str, g: str = "g") -> str:
    last = _last_direction(status, g)
    return f"(CASE WHEN ({n} - {k}) %% 2 = 0 THEN {last} ELSE (CASE {last} WHEN 'in' THEN 'out' ELSE 'in' END) END)"  # noqa: E501


def _body(direction: str, k: str, g: str = "g") -> str:
    inbound, outbound = _text_array(INBOUND), _text_array(OUTBOUND)
    pick = f"(hashint4(({g})::int * 16 + 8 + ({k})::int) & 2147483647)"
    order = f"(10000 + ({g}) %% 90000)::text"
    return (
        f"replace(CASE {direction} WHEN 'in' THEN ({inbound})[1 + {pick} %% {len(INBOUND)}]"
        f" ELSE ({outbound})[1 + {pick} %% {len(OUTBOUND)}] END, '{{n}}', {order})"
    )


def _message_at(k: str) -> str:
    """Message k of n is spaced evenly from opened_at to last_activity_at."""
    return (
        f"(c.opened_at + (c.last_activity_at - c.opened_at)"
        f" * (({k} - 1)::float8 / greatest(x.n - 1, 1)))"
    )


# One row per conversation g (0-based, id g + 1). Channel g %% 200; contact by (channel, slot).
CONVERSATION_SQL = f"""
INSERT INTO conversations_conversation (
    id, channel_id, contact_id, status, assignee_id, opened_at, last_customer_message_at,
    last_activity_at, first_response_at, resolved_at, resolution, last_message_preview)
SELECT g + 1, %(first_channel)s + ch, %(first_contact)s + ch * %(per_channel)s + slot %% %(per_channel)s,
       st.status,
       CASE WHEN st.status = 'new' AND {_h(5)} %% 100 < 30
              OR st.status = 'pending' AND {_h(5)} %% 100 < 85
            THEN %(first_agent)s + (ch / {GROUP}) * {AGENTS_PER_GROUP} + {_h(6)} %% {AGENTS_PER_GROUP}
       END,
       t.last_at - t.span, -- opened_at
       CASE WHEN {_last_direction("st.status")} = 'in' THEN t.last_at
            WHEN x.n >= 2 THEN t.last_at - t.span / (x.n - 1)
       END, -- last_customer_message_at: the last inbound message
       t.last_at,
       CASE WHEN st.status <> 'new' OR x.n >= 2 THEN
            CASE WHEN {_direction("st.status", "x.n", "1")} = 'out' THEN t.last_at - t.span
                 WHEN x.n >= 2 THEN t.last_at - t.span + t.span / (x.n - 1) END
       END, -- first_response_at: the first outbound message
       CASE WHEN st.status = 'resolved' THEN t.last_at END,
       CASE WHEN st.status <> 'resolved' THEN ''
            WHEN {_h(7)} %% 10 < 7 THEN 'agent'
            WHEN {_h(7)} %% 10 < 8 THEN 'auto_new' ELSE 'auto_pending' END,
       left({_body(_direction("st.status", "x.n", "x.n"), "x.n")}, 200)
FROM generate_series(0, %(n)s - 1) g
CROSS JOIN LATERAL (SELECT g %% {CHANNELS} AS ch, g / {CHANNELS} AS slot) p
CROSS JOIN LATERAL (SELECT {STATUS} AS status) st
CROSS JOIN LATERAL (SELECT {_n_messages("st.status")} AS n) x
CROSS JOIN LATERAL (
    SELECT {NOW_SQL} - make_interval(secs => CASE
               WHEN st.status = 'new' THEN {_h(2)} %% (7 * 86400)
               WHEN st.status = 'pending' THEN 3600 + {_h(2)} %% (25 * 86400)
               WHEN {LATEST} THEN {_h(2)} %% (60 * 86400)
               ELSE (60 + 110 * ({ROUNDS - 2} - p.slot / %(per_channel)s)) * 86400
                    + {_h(2)} %% (110 * 86400) END) AS last_at,
           CASE WHEN x.n = 1 THEN interval '0' ELSE make_interval(secs => 120 + {_h(9)} %% 86400) END
               AS span
) t
"""  # noqa: E501

# Per-conversation values computed once (x), per-message ones once (d); then only CASEs.
MESSAGE_SQL = f"""
INSERT INTO conversations_message (
    conversation_id, channel_id, direction, type, body, payload, provider_message_id,
    reply_to_provider_id, delivery, failure_code, failure_reason, author_id, template_id,
    sent_outside_window, attempts, created_at, sent_at, delivered_at, read_at)
SELECT c.id, c.channel_id, d.dir, 'text', {_body("d.dir", "k", "c.id - 1")}, '{{}}'::jsonb,
       'wamid.' || d.dir || '.' || c.id || '.' || k, '',
       CASE WHEN d.dir = 'in' THEN 'received' WHEN d.failed THEN 'failed'
            WHEN d.read THEN 'read' ELSE 'delivered' END,
       CASE WHEN d.dir = 'out' AND d.failed THEN 131047 END,
       CASE WHEN d.dir = 'out' AND d.failed
            THEN 'Re-engagement message: more than 24 hours since the customer last replied.'
            ELSE '' END,
       CASE WHEN d.dir = 'out' THEN x.author END,
       NULL, false, CASE d.dir WHEN 'out' THEN 1 ELSE 0 END,
       d.at, d.at,
       CASE WHEN d.dir = 'out' AND NOT d.failed THEN d.at + interval '2 seconds' END,
       CASE WHEN d.dir = 'out' AND NOT d.failed AND d.read THEN d.at + interval '5 minutes' END
FROM conversations_conversation c
CROSS JOIN LATERAL (
    SELECT {_n_messages("c.status", "c.id - 1")} AS n,
           {_last_direction("c.status", "c.id - 1")} AS last_dir,
           coalesce(c.assignee_id, %(first_agent)s
                    + ((c.channel_id - %(first_channel)s) / {GROUP}) * {AGENTS_PER_GROUP}
                    + {_h(6, "c.id - 1")} %% {AGENTS_PER_GROUP}) AS author
) x
CROSS JOIN LATERAL generate_series(1, x.n) k
CROSS JOIN LATERAL (SELECT {_h(10, "c.id * 10 + k")} %% 100 AS r) z
CROSS JOIN LATERAL (
    SELECT CASE WHEN (x.n - k) %% 2 = 0 THEN x.last_dir
                WHEN x.last_dir = 'in' THEN 'out' ELSE 'in' END AS dir,
           z.r = 0 AS failed,
           k < x.n OR z.r < 70 AS read,
           c.opened_at + (c.last_activity_at - c.opened_at)
               * ((k - 1)::float8 / greatest(x.n - 1, 1)) AS at
) d
WHERE c.id <= %(n)s
"""

# A failed reply never reached the customer: it is no first response (issue 13; the rule of
# conversations.outbound.recount_first_response and tallies.rebuild). CONVERSATION_SQL wrote
# the first outbound message's time before the messages existed; where that message failed
# (1 in 100), the first one that did not fail takes its place, or none.
FIRST_RESPONSE_SQL = """
UPDATE conversations_conversation c SET first_response_at = f.at
FROM (SELECT m.conversation_id,
             min(coalesce(m.retried_at, m.created_at)) FILTER (WHERE m.delivery <> 'failed') AS at
      FROM conversations_message m
      WHERE m.direction = 'out' AND m.conversation_id IN (
          SELECT conversation_id FROM conversations_message
          WHERE direction = 'out' AND delivery = 'failed')
      GROUP BY m.conversation_id) f
WHERE c.id = f.conversation_id AND c.first_response_at IS DISTINCT FROM f.at
"""

EVENT_SQL = [
    # Every conversation was opened by its first message.
    """INSERT INTO conversations_event (conversation_id, kind, actor_id, data, created_at)
       SELECT id, 'opened', NULL, '{}'::jsonb, opened_at FROM conversations_conversation
       WHERE id <= %(n)s""",
    # Assigned by hand a minute after opening.
    """INSERT INTO conversations_event (conversation_id, kind, actor_id, data, created_at)
       SELECT c.id, 'assigned', c.assignee_id,
              jsonb_build_object('to', jsonb_build_object('id', u.id, 'name', u.first_name
                                 || ' ' || u.last_name)),
              c.opened_at + interval '1 minute'
       FROM conversations_conversation c JOIN auth_user u ON u.id = c.assignee_id
       WHERE c.id <= %(n)s""",
    # Moved to Pending by the agent who answered (the same author formula as the messages).
    f"""INSERT INTO conversations_event (conversation_id, kind, actor_id, data, created_at)
       SELECT c.id, 'status_changed', coalesce(c.assignee_id, %(first_agent)s
                    + ((c.channel_id - %(first_channel)s) / {GROUP}) * {AGENTS_PER_GROUP}
                    + {_h(6, "c.id - 1")} %% {AGENTS_PER_GROUP}),
              '{{"from": "new", "to": "pending"}}'::jsonb, c.last_activity_at
       FROM conversations_conversation c
       WHERE c.status = 'pending' AND c.id <= %(n)s""",
    # Resolved: by an agent, or by the auto-resolve job (actor NULL).
    """INSERT INTO conversations_event (conversation_id, kind, actor_id, data, created_at)
       SELECT c.id, CASE c.resolution WHEN 'agent' THEN 'status_changed' ELSE 'auto_resolved' END,
              CASE c.resolution WHEN 'agent' THEN %(first_agent)s
                   + ((c.channel_id - %(first_channel)s) / 5) * 2 END,
              CASE c.resolution
                   WHEN 'agent' THEN '{"from": "pending", "to": "resolved"}'::jsonb
                   WHEN 'auto_new' THEN '{"rule": "new", "from": "new", "to": "resolved",
                                          "after_seconds": 2592000}'::jsonb
                   ELSE '{"rule": "pending", "from": "pending", "to": "resolved",
                          "after_seconds": 2592000}'::jsonb END,
              c.resolved_at
       FROM conversations_conversation c WHERE c.status = 'resolved' AND c.id <= %(n)s""",
]

LABEL_SQL = [
    f"""INSERT INTO conversations_conversation_tags (conversation_id, tag_id)
        SELECT g + 1, %(first_tag)s + {_h(11)} %% {len(TAGS)}
        FROM generate_series(0, %(n)s - 1) g WHERE {_h(12)} %% 100 < 45""",
    f"""INSERT INTO conversations_conversation_tags (conversation_id, tag_id)
        SELECT g + 1, %(first_tag)s + ({_h(11)} + 1) %% {len(TAGS)}
        FROM generate_series(0, %(n)s - 1) g WHERE {_h(12)} %% 100 < 10""",
    f"""INSERT INTO conversations_conversation_topics (conversation_id, topic_id)
        SELECT g + 1, %(first_topic)s + {_h(13)} %% {len(TOPICS)}
        FROM generate_series(0, %(n)s - 1) g WHERE {_h(14)} %% 100 < 25""",
    f"""INSERT INTO conversations_note (conversation_id, author_id, body, created_at)
        SELECT c.id, %(first_agent)s + ((c.channel_id - %(first_channel)s) / {GROUP})
               * {AGENTS_PER_GROUP},
               'Customer called as well; see ticket in the shop backend.',
               c.opened_at + (c.last_activity_at - c.opened_at) / 2
        FROM conversations_conversation c WHERE c.id <= %(n)s AND {_h(15, "c.id")} %% 100 < 3""",
]

# The tables whose secondary indexes are dropped for the load and rebuilt after.
LOADED_TABLES = [
    "conversations_contact",
    "conversations_conversation",
    "conversations_message",
    "conversations_event",
    "conversations_note",
    "conversations_conversation_tags",
    "conversations_conversation_topics",
]


def _log(message: str) -> None:
    print(f"[bench.dataset] {message}", file=sys.stderr, flush=True)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def check_database() -> None:
    """Refuse anything but a reachable PostgreSQL database whose name contains "bench"."""
    from django.db import OperationalError, connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench: set DATABASE_URL to PostgreSQL (the benchmark needs it)")
    name = connection.settings_dict["NAME"]
    if "bench" not in name:
        raise SystemExit(f"bench: refusing database {name!r}: its name must contain 'bench'")
    try:
        connection.ensure_connection()
    except OperationalError as exc:
        raise SystemExit(f"bench: PostgreSQL unreachable ({name}): {exc}") from None


def _scalar(cursor, sql: str, params=None):
    cursor.execute(sql, params)
    row = cursor.fetchone()
    return row[0] if row else None


def marker(cursor) -> dict | None:
    """The complete dataset's description, or None when there is none (or an older VERSION)."""
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS bench_dataset (name text PRIMARY KEY,"
        " conversations bigint NOT NULL, version int NOT NULL, built_at timestamptz NOT NULL,"
        " seconds float8 NOT NULL)"
    )
    cursor.execute(
        "SELECT conversations, version, built_at, seconds FROM bench_dataset WHERE name = 'pages'"
    )
    row = cursor.fetchone()
    if row is None or row[1] != VERSION:
        return None
    return {"conversations": row[0], "version": row[1], "built_at": row[2], "seconds": row[3]}


def _restore_indexes(cursor) -> None:
    """Rebuild indexes a crashed earlier build dropped (their definitions were saved first)."""
    cursor.execute("CREATE TABLE IF NOT EXISTS bench_dropped_index (definition text NOT NULL)")
    cursor.execute("SELECT definition FROM bench_dropped_index")
    for (definition,) in cursor.fetchall():
        cursor.execute(
            definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
            .replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX IF NOT EXISTS", 1)
            .replace(" ON ONLY ", " ON ", 1)
        )
    cursor.execute("DELETE FROM bench_dropped_index")


def _drop_secondary_indexes(cursor, table: str) -> list[str]:
    """Drop the indexes that back no constraint (partial unique ones included: they are rebuilt,
    and so re-checked, after the load); return their definitions.

    The definitions are saved in ``bench_dropped_index`` first, so a build that dies midway
    leaves a database the next build (or ``_restore_indexes``) repairs.
    """
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text FROM pg_index i"
        " WHERE i.indrelid = %s::regclass AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
        [table],
    )
    indexes = cursor.fetchall()
    for definition, name in indexes:
        cursor.execute("INSERT INTO bench_dropped_index (definition) VALUES (%s)", [definition])
        cursor.execute(f"DROP INDEX {name}")
    return [definition for definition, _name in indexes]


def _rebuild_indexes(definitions: list[str]) -> None:
    """Build the dropped indexes on two connections at once, the GIN ones first.

    PostgreSQL 15 builds a GIN index (the messages' full text, 14 minutes at 50M) on one core
    only, while a btree build takes both; one after the other, the second core idled through the
    GIN builds. Here one connection builds them while the other takes the btrees, and whichever
    is free takes the next definition.
    """
    from django.db import connection

    pending = iter(sorted(definitions, key=lambda definition: " USING gin " not in definition))
    lock = threading.Lock()

    def builder() -> None:
        try:
            with connection.cursor() as cursor:  # this thread's own connection
                # GIN builds in far fewer passes with more memory: 2 GB each, a sixth of this
                # machine for both.
                cursor.execute("SET maintenance_work_mem = '2GB'")
                while True:
                    with lock:
                        definition = next(pending, None)
                    if definition is None:
                        return
                    # A partitioned table's index (ON ONLY) is built with its partitions'.
                    cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(builder) for _ in range(2)]:
            future.result()


def _ids(cursor, sql: str, params=None) -> int:
    value = _scalar(cursor, sql, params)
    if value is None:
        raise SystemExit(f"bench.dataset: nothing found for {sql}")
    return value


def build(n: int, *, now: datetime) -> dict:
    """Truncate the desk's tables and generate the dataset for ``n`` conversations."""
    from django.core.management import call_command
    from django.db import connection

    from channels_app.models import Channel
    from conversations import partitions

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    per_channel = -(-n // (CHANNELS * ROUNDS))  # contacts per channel
    params = {"n": n, "now": now, "per_channel": per_channel, "per_round": per_channel * CHANNELS}
    with connection.cursor() as cursor:
        _log(f"building {n:,} conversations (reused later while VERSION {VERSION} and N match)")
        cursor.execute("DELETE FROM bench_dataset WHERE name = 'pages'")
        cursor.execute(
            "TRUNCATE conversations_event, conversations_message, conversations_note,"
            " conversations_conversation_tags, conversations_conversation_topics,"
            " conversations_conversation, conversations_contact, conversations_tag,"
            " conversations_topic, channels_app_messagetemplate, channels_app_accessgrant,"
            " channels_app_team_members, channels_app_team, channels_app_profile,"
            " channels_app_channel, auth_user, django_session RESTART IDENTITY CASCADE"
        )
        _restore_indexes(cursor)
        # Filled in one pass after the load instead of a trigger call per message.
        cursor.execute("ALTER TABLE conversations_message DISABLE TRIGGER messagekey_insert")
        rebuild = []
        for table in LOADED_TABLES:
            rebuild += _drop_secondary_indexes(cursor, table)
        superuser = _scalar(cursor, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if superuser:
            # Foreign-key triggers off: the rows are consistent by construction.
            cursor.execute("SET session_replication_role = replica")
        else:
            _log("not a superuser: loading with foreign-key triggers on (slower)")

        # The CHANNELS shops, then the long thread's channel.
        month = timedelta(days=30)
        insert_channels(
            cursor, CHANNELS + 1, name_prefix="", phone_prefix="pbench-", now=now,
            display_name=lambda g: f"Shop {g:03d}" if g <= CHANNELS else THREAD_CHANNEL,
            auto_resolve_new_after=month, auto_resolve_pending_after=month,
            waba_id=lambda g: f"waba-{g}", display_phone_number=lambda g: f"+49 30 {5550000 + g}",
            verified_name=lambda g: f"Bench Shop {g}",
            read_receipts=Channel.ReadReceipts.ON_OPEN.value,
        )  # fmt: skip
        groups = CHANNELS // GROUP
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined)"
            " SELECT '!', false, 'pbench-agent-' || lpad(g::text, 3, '0'),"
            " (%(first)s::text[])[1 + g %% 30], (%(last)s::text[])[1 + (g * 7) %% 30],"
            " '', false, true, %(now)s"
            " FROM generate_series(1, %(agents)s) g",
            {
                "agents": groups * AGENTS_PER_GROUP,
                "first": FIRST_NAMES,
                "last": LAST_NAMES,
                "now": now,
            },
        )
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined)"
            " VALUES ('!', false, %s, 'Sue', 'Pervisor', '', false, true, %s)",
            [SUPERVISOR, now],
        )
        first_channel = _ids(cursor, "SELECT min(id) FROM channels_app_channel")
        thread_channel = first_channel + CHANNELS
        first_agent = _ids(
            cursor, "SELECT min(id) FROM auth_user WHERE username LIKE 'pbench-agent-%%'"
        )
        supervisor = _ids(cursor, "SELECT id FROM auth_user WHERE username = %s", [SUPERVISOR])
        params.update(first_channel=first_channel, first_agent=first_agent)
        # Contributors on their group's 5 channels; the first agent also on the thread channel;
        # the Supervisor on every channel.
        cursor.execute(
            "INSERT INTO channels_app_accessgrant (channel_id, user_id, team_id, role, created_at)"
            " SELECT %(first_channel)s + ch, %(first_agent)s + (ch / %(group)s) * %(per)s + a,"
            " NULL, 20, %(now)s"
            " FROM generate_series(0, %(channels)s - 1) ch, generate_series(0, %(per)s - 1) a",
            {
                "first_channel": first_channel,
                "first_agent": first_agent,
                "group": GROUP,
                "per": AGENTS_PER_GROUP,
                "channels": CHANNELS,
                "now": now,
            },
        )
        cursor.execute(
            "INSERT INTO channels_app_accessgrant (channel_id, user_id, team_id, role, created_at)"
            " VALUES (%s, %s, NULL, 20, %s)",
            [thread_channel, first_agent, now],
        )
        cursor.execute(
            "INSERT INTO channels_app_accessgrant (channel_id, user_id, team_id, role, created_at)"
            " SELECT id, %s, NULL, 30, %s FROM channels_app_channel",
            [supervisor, now],
        )
        cursor.execute(
            "INSERT INTO channels_app_profile (user_id, time_zone)"
            " SELECT id, 'Europe/Berlin' FROM auth_user"
        )
        cursor.execute(
            "INSERT INTO channels_app_messagetemplate (channel_id, provider_id, name, language,"
            " category, status, components, parameter_format, rejection_reason, quality_score,"
            " updated_at)"
            " SELECT c.id, 'tpl-' || c.id || '-' || t.name, t.name, 'en', 'UTILITY', 'APPROVED',"
            " jsonb_build_array(jsonb_build_object('type', 'BODY', 'text', t.body)),"
            " 'POSITIONAL', '', 'GREEN', %s"
            " FROM channels_app_channel c, (VALUES"
            " ('order_update', 'Hello {{1}}, your order {{2}} has an update.'),"
            " ('follow_up', 'Hi {{1}}, do you still need help with your request?')) t(name, body)",
            [now],
        )
        cursor.executemany("INSERT INTO conversations_tag (name, color) VALUES (%s, %s)", TAGS)
        cursor.executemany(
            "INSERT INTO conversations_topic (name, description) VALUES (%s, '')",
            [[t] for t in TOPICS],
        )
        params["first_tag"] = _ids(cursor, "SELECT min(id) FROM conversations_tag")
        params["first_topic"] = _ids(cursor, "SELECT min(id) FROM conversations_topic")

        cursor.execute(
            "INSERT INTO conversations_contact (kind, wa_id, bsuid, profile_name, phone,"
            " created_at)"
            " SELECT 'whatsapp', (4915100000000 + g)::text, NULL,"
            " (%(first)s::text[])[1 + (g * 7) %% 30] || ' '"
            " || (%(last)s::text[])[1 + (g / 30) %% 30],"
            " '+' || (4915100000000 + g)::text, %(now)s"
            " FROM generate_series(1, %(contacts)s) g",
            {
                "first": FIRST_NAMES,
                "last": LAST_NAMES,
                "now": now,
                "contacts": per_channel * CHANNELS + 1,
            },
        )
        params["first_contact"] = _ids(cursor, "SELECT min(id) FROM conversations_contact")
        step = time.perf_counter()
        cursor.execute(CONVERSATION_SQL, params)
        _log(f"conversations: {cursor.rowcount:,} in {time.perf_counter() - step:.1f} s")
        # Monthly partitions (docs/partitions.md) for every month of the history: messages and
        # events are never older than their conversation's opening.
        oldest = _scalar(cursor, "SELECT min(opened_at) FROM conversations_conversation")
        made = partitions.create_months(
            partitions.month_start(min(oldest or now, now)),
            partitions.add_months(partitions.month_start(now), 3),
        )
        _log(f"partitions: {len(made.created)} created")
        step = time.perf_counter()
        cursor.execute(MESSAGE_SQL, params)
        _log(f"messages: {cursor.rowcount:,} in {time.perf_counter() - step:.1f} s")
        cursor.execute(FIRST_RESPONSE_SQL)
        _log(f"first responses moved past a failed reply: {cursor.rowcount:,}")
        step = time.perf_counter()
        for sql in EVENT_SQL + LABEL_SQL:
            cursor.execute(sql, params)
        _log(f"events, tags, topics, notes in {time.perf_counter() - step:.1f} s")
        _build_thread(
            cursor,
            n=n,
            now=now,
            channel=thread_channel,
            contact=params["first_contact"] + per_channel * CHANNELS,
            agent=first_agent,
            first_tag=params["first_tag"],
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('conversations_conversation', 'id'),"
            " (SELECT max(id) FROM conversations_conversation))"
        )
        if superuser:
            cursor.execute("SET session_replication_role = DEFAULT")
        step = time.perf_counter()
        # The provider ids' key table in one pass (its trigger was off for the load), without
        # its primary key, which is then built by sorting (4x faster than row by row at 50M).
        cursor.execute("TRUNCATE conversations_messagekey")
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'conversations_messagekey'::regclass AND contype = 'p'"
        )
        key = cursor.fetchone()
        if key:
            readd = f'ALTER TABLE conversations_messagekey ADD CONSTRAINT "{key[0]}" {key[1]}'
            cursor.execute("INSERT INTO bench_dropped_index (definition) VALUES (%s)", [readd])
            cursor.execute(f'ALTER TABLE conversations_messagekey DROP CONSTRAINT "{key[0]}"')
        cursor.execute(
            "INSERT INTO conversations_messagekey"
            " SELECT channel_id, provider_message_id, id, created_at FROM conversations_message"
            " WHERE provider_message_id IS NOT NULL"
        )
        keys = cursor.rowcount
        if key:
            cursor.execute(readd)
            cursor.execute("DELETE FROM bench_dropped_index WHERE definition = %s", [readd])
        _log(f"message keys: {keys:,} in {time.perf_counter() - step:.1f} s")
        cursor.execute("ALTER TABLE conversations_message ENABLE TRIGGER messagekey_insert")
        step = time.perf_counter()
        _rebuild_indexes(rebuild)
        cursor.execute("DELETE FROM bench_dropped_index")
        _log(f"{len(rebuild)} indexes rebuilt in {time.perf_counter() - step:.1f} s")
        step = time.perf_counter()
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
        _log(f"VACUUM ANALYZE, CHECKPOINT in {time.perf_counter() - step:.1f} s")
        seconds = time.perf_counter() - started
        cursor.execute(
            "INSERT INTO bench_dataset (name, conversations, version, built_at, seconds)"
            " VALUES ('pages', %s, %s, %s, %s)",
            [n, VERSION, now, seconds],
        )
    _log(f"built in {seconds:.1f} s")
    return {"conversations": n, "version": VERSION, "built_at": now, "seconds": seconds}


def _build_thread(cursor, *, n, now, channel, contact, agent, first_tag) -> None:
    """The 500-message conversation (id n + 1) and five earlier ones of its contact."""
    thread = n + 1
    agent_name = _scalar(
        cursor, "SELECT first_name || ' ' || last_name FROM auth_user WHERE id = %s", [agent]
    )
    common = {"channel": channel, "contact": contact, "agent": agent, "now": now}
    # Five earlier, resolved conversations of the same contact (ids n + 2 .. n + 6).
    cursor.execute(
        "INSERT INTO conversations_conversation (id, channel_id, contact_id, status, assignee_id,"
        " opened_at, last_customer_message_at, last_activity_at, first_response_at, resolved_at,"
        " resolution, last_message_preview)"
        " SELECT %(thread)s + r, %(channel)s, %(contact)s, 'resolved', NULL,"
        " %(now)s - (r * 40 + 2) * interval '1 day', %(now)s - (r * 40 + 2) * interval '1 day',"
        " %(now)s - r * 40 * interval '1 day', %(now)s - (r * 40 + 1) * interval '1 day',"
        " %(now)s - r * 40 * interval '1 day', 'agent', 'You are welcome!'"
        " FROM generate_series(1, 5) r",
        {**common, "thread": thread},
    )
    cursor.execute(
        "INSERT INTO conversations_message (conversation_id, channel_id, direction, type, body,"
        " payload, provider_message_id, reply_to_provider_id, delivery, failure_reason,"
        " author_id, sent_outside_window, attempts, created_at, sent_at, delivered_at, read_at)"
        " SELECT c.id, c.channel_id, d.dir, 'text',"
        " CASE d.dir WHEN 'in' THEN 'Hello, a question about my order' ELSE 'You are welcome!'"
        " END, '{}'::jsonb, 'wamid.thread.' || c.id || '.' || d.dir, '',"
        " CASE d.dir WHEN 'in' THEN 'received' ELSE 'read' END, '',"
        " CASE d.dir WHEN 'out' THEN %(agent)s END, false, 0,"
        " CASE d.dir WHEN 'in' THEN c.opened_at ELSE c.last_activity_at END,"
        " CASE d.dir WHEN 'in' THEN c.opened_at ELSE c.last_activity_at END,"
        " CASE d.dir WHEN 'out' THEN c.last_activity_at END,"
        " CASE d.dir WHEN 'out' THEN c.last_activity_at END"
        " FROM conversations_conversation c, (VALUES ('in'), ('out')) d(dir)"
        " WHERE c.id BETWEEN %(thread)s + 1 AND %(thread)s + 5",
        {**common, "thread": thread},
    )
    # The thread: 500 messages over the last 20 days, alternating, ending outbound (Pending).
    messages = THREAD_MESSAGES
    cursor.execute(
        "INSERT INTO conversations_conversation (id, channel_id, contact_id, status, assignee_id,"
        " opened_at, last_customer_message_at, last_activity_at, first_response_at, resolved_at,"
        " resolution, last_message_preview)"
        " VALUES (%(thread)s, %(channel)s, %(contact)s, 'pending', %(agent)s,"
        " %(now)s - interval '20 days', %(now)s - interval '1 hour',"
        " %(now)s - interval '30 minutes', %(now)s - interval '20 days' + interval '1 hour',"
        " NULL, '', 'Let me check that with the warehouse.')",
        {**common, "thread": thread},
    )
    cursor.execute(
        "INSERT INTO conversations_message (conversation_id, channel_id, direction, type, body,"
        " payload, provider_message_id, reply_to_provider_id, delivery, failure_reason,"
        " author_id, sent_outside_window, attempts, created_at, sent_at, delivered_at, read_at)"
        " SELECT %(thread)s, %(channel)s, CASE k %% 2 WHEN 0 THEN 'out' ELSE 'in' END,"
        " CASE WHEN k %% 50 = 7 THEN 'image' ELSE 'text' END,"
        " CASE WHEN k = %(messages)s THEN 'Let me check that with the warehouse.'"
        "      WHEN k %% 2 = 1 THEN 'Message ' || k || ' from the customer about the order'"
        "      ELSE 'Reply ' || k || ' from the agent, thanks for your patience' END,"
        " CASE WHEN k %% 50 = 7 THEN jsonb_build_object('id', 'media-' || k,"
        "      'mime_type', 'image/jpeg') ELSE '{}'::jsonb END,"
        " 'wamid.thread.' || k, '',"
        " CASE k %% 2 WHEN 1 THEN 'received' ELSE 'read' END, '',"
        " CASE k %% 2 WHEN 0 THEN %(agent)s END, false, k %% 2,"
        " %(now)s - interval '20 days' + (k - 1) * ((interval '20 days' - interval '30 minutes')"
        "      / (%(messages)s - 1)),"
        " %(now)s - interval '20 days' + (k - 1) * ((interval '20 days' - interval '30 minutes')"
        "      / (%(messages)s - 1)),"
        " NULL, NULL"
        " FROM generate_series(1, %(messages)s) k",
        {**common, "thread": thread, "messages": messages},
    )
    cursor.execute(
        "INSERT INTO conversations_note (conversation_id, author_id, body, created_at)"
        " SELECT %(thread)s, %(agent)s, 'Internal note ' || k, %(now)s - k * interval '1 day'"
        " FROM generate_series(1, 10) k",
        {**common, "thread": thread},
    )
    cursor.execute(
        "INSERT INTO conversations_event (conversation_id, kind, actor_id, data, created_at)"
        " SELECT %(thread)s, e.kind, e.actor, e.data::jsonb, %(now)s - e.days * interval '1 day'"
        " FROM (VALUES ('opened', NULL, '{}', 20),"
        "  ('assigned', %(agent)s, %(assigned)s, 19.9),"
        "  ('tag_added', %(agent)s, '{\"name\": \"vip\"}', 19)) e(kind, actor, data, days)",
        {
            **common,
            "thread": thread,
            "assigned": f'{{"to": {{"id": {agent}, "name": "{agent_name}"}}}}',
        },
    )
    # The back and forth between New and Pending as the customer and the agent took turns.
    cursor.execute(
        "INSERT INTO conversations_event (conversation_id, kind, actor_id, data, created_at)"
        " SELECT %(thread)s, 'status_changed', CASE k %% 2 WHEN 0 THEN %(agent)s END,"
        ' CASE k %% 2 WHEN 0 THEN \'{"from": "new", "to": "pending"}\'::jsonb'
        ' ELSE \'{"from": "pending", "to": "new", "reason": "customer_replied"}\'::jsonb'
        " END, %(now)s - interval '19 days' + k * interval '1 hour'"
        " FROM generate_series(1, 300) k",
        {**common, "thread": thread},
    )
    cursor.execute(
        "INSERT INTO conversations_conversation_tags (conversation_id, tag_id)"
        " SELECT %s, id FROM conversations_tag WHERE name IN ('vip', 'delivery')",
        [thread],
    )
    del first_tag


def ensure(n: int, *, regenerate: bool = False, now: datetime | None = None) -> dict:
    """The dataset for ``n`` conversations: reused when the marker says it is complete."""
    from django.db import connection

    with connection.cursor() as cursor:
        found = marker(cursor)
    if found and found["conversations"] == n and not regenerate:
        from django.core.management import call_command

        # A dataset built before the latest migrations gets them (and their backfills) once.
        call_command("migrate", verbosity=0)
        _log(f"reusing {n:,} conversations (built {found['built_at']:%Y-%m-%d %H:%M})")
        return {**found, "reused": True}
    built = build(n, now=now or datetime.now(UTC))
    return {**built, "reused": False}


def thread_id(n: int) -> int:
    """The 500-message conversation's id in a dataset of ``n`` conversations."""
    return n + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dataset", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--conversations", type=int, default=DEFAULT_CONVERSATIONS)
    parser.add_argument("--regenerate", action="store_true", help="rebuild even if complete")
    args = parser.parse_args(argv)
    if args.conversations < CHANNELS * ROUNDS:
        parser.error(f"--conversations must be at least {CHANNELS * ROUNDS}")
    setup_django()
    check_database()
    result = ensure(args.conversations, regenerate=args.regenerate)
    _log(f"{result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
