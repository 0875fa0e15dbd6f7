"""Settings for the messaging desk: one module, every value read once from the environment.

Nothing else in the project reads os.environ. A `.env` file in the project root is read when it
exists; real environment variables win over it. `.env.example` documents every variable.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core --------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# The fallback key only exists so that `make run` works on a bare machine; production must set it
# (check --deploy rejects this one because it is short and marked insecure).
SECRET_KEY = env("SECRET_KEY", default="django-insecure-dev-only-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin with the desk's own site (titles, index order)
    "channels_app.admin_apps.DeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",  # login throttling (docs/security.md); its admin lists and removes lockouts
    "channels_app",
    "onboarding",
    "routing",  # availability, capacity, pushed assignment, snooze timers (docs/routing.md)
    "conversations",
    "replies",
    "composer",  # attachments, voice notes, reactions, buttons, read receipts (docs/composer.md)
    "reports",
    "service_levels",  # business hours, auto-replies, SLA clocks, CSAT (docs/service-levels.md)
    "automations",  # automation rules and marketing opt-outs (docs/automations.md)
    "realtime",  # live push to the agents' pages over websockets (docs/realtime.md)
    "api",  # the proactive messaging API under /api/v1/ and its outgoing webhooks (docs/api.md)
    "audit",  # the admin audit log (docs/audit.md); imported by no app
    "devtools",  # seed_demo and the WhatsApp emulator; nothing imports it (docs/architecture.md)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Who changes what from where, for the audit log's rows (docs/audit.md); it reads the user
    # only when a row is written, so it may come before the authentication.
    "audit.middleware.AuditContextMiddleware",
    # Signed provider webhooks are answered here, without the session, locale, CSRF, auth, ...
    # middleware below, which they never use (conversations/webhook_lane.py).
    "conversations.webhook_lane.WebhookLaneMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "channels_app.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout into the login page's 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# The websockets of the live pages (realtime/): Django Channels under an ASGI server.
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "conversations.context_processors.top_bar",
                "routing.context_processors.top_bar",
            ],
        },
    },
    # The conversation page's long lists (<app>/jinja2/, see config/jinja2.py): compiled,
    # autoescaped templates rendered once a list. Second, so a name both have is Django's.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"environment": "config.jinja2.environment"},
    },
]

# --- Database ----------------------------------------------------------------------------------
# SQLite is the embedded default so that `make run` needs nothing installed; production and CI
# set DATABASE_URL to PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction mode a server-side cursor cannot outlive its transaction.
DATABASE_TRANSACTION_POOLING = env.bool("DATABASE_TRANSACTION_POOLING", default=False)
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DATABASE_TRANSACTION_POOLING
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not (
    DATABASE_TRANSACTION_POOLING
):
    # Only the inbound-message statement (conversations/inbound_sql.py) binds server-side, so it
    # is the one statement psycopg prepares (once per connection); Django's own
    # cursors bind client-side and are never prepared. A transaction pooler gets none.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 1)
    # No JIT compilation: the app's statements are short, and a row estimate past
    # jit_above_cost compiled for 25-470 ms a statement that ran in 10-40 ms (the inbox at 10M,
    # docs/pages.md; the reports turned it off for their transaction before). Behind a
    # transaction pooler the startup option is not passed: ALTER ROLE ... SET jit = off there.
    DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process, the worker and beat share the file.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The reports' covering indexes (INCLUDE) are a PostgreSQL optimisation; SQLite builds them
    # as plain indexes, which is all it needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            # A transaction takes the write lock when it begins, so it waits out the busy
            # timeout; a deferred one that meets another writer mid-way fails at once.
            "transaction_mode": "IMMEDIATE",
        }
    )
    # Tests use a file of their own (one per test run), not Django's shared-cache in-memory
    # database: there, the live server's threads and the test meet with "database table is
    # locked" at once instead of waiting (the flaky end-to-end tests). A file gives every thread
    # its own connection with WAL and the busy timeout, as the web process and the worker have.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"desk-test-{os.getpid()}.sqlite3")
    }
# A streaming replica for the reports (config/db_routing.py): they read from it while its replay
# lags at most DATABASE_REPLICA_MAX_LAG_S seconds, else from the primary. Tests mirror it onto
# the test database. A replica is read-only: nothing is ever prepared or written there.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"].update(
        CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"],
        CONN_HEALTH_CHECKS=True,
        DISABLE_SERVER_SIDE_CURSORS=DATABASE_TRANSACTION_POOLING,
        TEST={"MIRROR": "default"},
    )
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
DATABASE_REPLICA_MAX_LAG_S = env.float("DATABASE_REPLICA_MAX_LAG_S", default=30.0)
DATABASE_REPLICA_LAG_CACHE_S = env.float("DATABASE_REPLICA_LAG_CACHE_S", default=5.0)
DATABASE_ROUTERS = ["config.db_routing.ReportsRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth --------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "conversations:inbox"
LOGOUT_REDIRECT_URL = "login"
# Login throttling with django-axes (channels_app/login_throttle.py, docs/security.md): after
# AXES_FAILURE_LIMIT failed logins for one username, or from one client address, further logins
# there (the right password included) are refused until AXES_COOLOFF_MINUTES after the last
# failure. Failures are logged with username and address, never the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one alone locks
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "channels_app.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "channels_app.login_throttle.client_ip"
AXES_SENSITIVE_PARAMETERS = ["csrfmiddlewaretoken"]
# How many reverse proxies of ours stand in front of the app, each appending the address it was
# reached from to X-Forwarded-For (deploy/nginx.conf: 1). 0 trusts no header: REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = env("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date and time format per language on every page (config/formats/<language>/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env("TIME_ZONE", default="UTC")

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "media/"

# --- Security ----------------------------------------------------------------------------------
# Behind a TLS-terminating proxy in production; every flag below is on unless DEBUG.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Keys that encrypt the secrets stored in the database (channels' access tokens), newest first:
# the first encrypts, all decrypt (channels_app/encryption.py). Unset, a development key is
# derived from SECRET_KEY; check --deploy and the web process refuse that when DEBUG is off.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# What a billable message costs per pricing category, for the reports' estimate (reports/costs.py),
# as JSON: {"marketing": "0.0600", "utility": "0.0200"}. Empty: counts only, no estimate.
MESSAGING_RATES = env.json("MESSAGING_RATES", default={})

# --- Live push (realtime/, docs/realtime.md) ---------------------------------------------------
# With Redis: Channels' Redis pub/sub layer (one subscription per group and process; the worker
# and the web process publish to it). Without Redis (make run): an in-process layer, fed by a
# database bus that the ASGI process reads once per REALTIME_BUS_POLL_S for every socket.
REALTIME_PREFIX = env("REALTIME_PREFIX", default="desk")
REALTIME_BUS_POLL_S = env.float("REALTIME_BUS_POLL_S", default=0.5)
# How often a page with a live socket checks the socket is alive (the browser's polling
# fallback uses the old 10 s period when the socket fails).
REALTIME_HEARTBEAT_S = env.int("REALTIME_HEARTBEAT_S", default=25)
_REALTIME_REDIS = env("REALTIME_REDIS_URL", default=env("REDIS_URL", default=""))
if _REALTIME_REDIS:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [_REALTIME_REDIS], "prefix": REALTIME_PREFIX},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ------------------------------------------------------------------------------------
# REDIS_URL (or CELERY_BROKER_URL) selects a real broker. Without one, kombu's filesystem transport
# lets the worker and beat run on a bare machine with nothing else installed.
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(BASE_DIR / "var" / "broker")))
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # A send waiting on a dead broker must not hang a web request: fail fast, the outbound sweep
    # re-dispatches whatever stayed queued.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
    CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / "var" / "celerybeat-schedule")
)

CELERY_BEAT_SCHEDULE = {
    # Every 15 minutes: resolve New/Pending conversations older than their channel's limit.
    "autoresolve": {
        "task": "conversations.tasks.autoresolve",
        "schedule": timedelta(seconds=env.int("AUTORESOLVE_EVERY_S", default=900)),
    },
    # Every minute: re-dispatch replies still queued after the broker or a worker was down.
    "sweep-outbound": {
        "task": "conversations.tasks.sweep_outbound",
        "schedule": timedelta(seconds=env.int("OUTBOUND_SWEEP_EVERY_S", default=60)),
    },
    # Every minute: queue inbound media downloads that were never queued (broker down) or whose
    # worker died; marks media past Meta's 7-day lifetime as failed.
    "sweep-media": {
        "task": "conversations.tasks.sweep_media",
        "schedule": timedelta(seconds=env.int("MEDIA_SWEEP_EVERY_S", default=60)),
    },
    # Every minute: queue large webhook bodies not applied yet (the broker lost the task, or the
    # worker died half-way: it resumes where it stopped), and drop applied ones after a week.
    "sweep-inbound-payloads": {
        "task": "conversations.tasks.sweep_inbound_payloads",
        "schedule": timedelta(seconds=env.int("INBOUND_PAYLOAD_SWEEP_EVERY_S", default=60)),
    },
    # Every hour: pull each channel's message templates and their review status from the API.
    "sync-templates": {
        "task": "channels_app.tasks.sync_templates",
        "schedule": timedelta(seconds=env.int("TEMPLATE_SYNC_EVERY_S", default=3600)),
    },
    # Every hour: flag onboarding steps that waited longer than their expected business days.
    "onboarding-overdue": {
        "task": "onboarding.tasks.check_overdue",
        "schedule": timedelta(seconds=env.int("ONBOARDING_CHECK_EVERY_S", default=3600)),
    },
    # Every 5 minutes: count the messages of whole past hours into the reports' tallies.
    "roll-up-report-tallies": {
        "task": "reports.tasks.roll_up_report_tallies",
        "schedule": timedelta(seconds=env.int("REPORT_ROLLUP_EVERY_S", default=300)),
    },
    # Every 15 seconds: deliver the outgoing API webhooks that are due (first tries and retries).
    "deliver-api-webhooks": {
        "task": "api.tasks.deliver_webhooks",
        "schedule": timedelta(seconds=env.int("API_WEBHOOK_SWEEP_EVERY_S", default=15)),
    },
    # Hourly: forget Idempotency-Key answers older than API_IDEMPOTENCY_TTL_HOURS.
    "prune-api-idempotency": {
        "task": "api.tasks.prune_idempotency",
        "schedule": timedelta(seconds=env.int("API_IDEMPOTENCY_PRUNE_EVERY_S", default=3600)),
    },
    # Daily: delete audit rows older than AUDIT_RETENTION_DAYS.
    "prune-audit-log": {
        "task": "audit.tasks.prune_audit_log",
        "schedule": timedelta(seconds=env.int("AUDIT_PRUNE_EVERY_S", default=86400)),
    },
    # Every 5 seconds: routing's timers (idle -> Away, closed -> Offline, sign-out unassignment)
    # and pushed assignment of waiting conversations (docs/routing.md).
    "routing-sweep": {
        "task": "routing.tasks.sweep",
        "schedule": timedelta(seconds=env.int("ROUTING_SWEEP_EVERY_S", default=5)),
    },
    # Every minute: queue waiting conversations whose announcement routing missed.
    "routing-discover": {
        "task": "routing.tasks.discover",
        "schedule": timedelta(seconds=env.int("ROUTING_DISCOVER_EVERY_S", default=60)),
    },
    # Every 15 seconds: wake snoozed conversations whose time came, and bring Pending ones back
    # into New after their channel's boomerang age (routing.timers).
    "routing-wake": {
        "task": "routing.tasks.wake",
        "schedule": timedelta(seconds=env.int("ROUTING_WAKE_EVERY_S", default=15)),
    },
    # Every 15 seconds: SLA warnings and breaches, the window's last hour, due CSAT surveys
    # (docs/service-levels.md): every alert recorded well within 60 s of its moment.
    "service-levels-sweep": {
        "task": "service_levels.tasks.sweep",
        "schedule": timedelta(seconds=env.int("SLA_SWEEP_EVERY_S", default=15)),
    },
    # Every hour: erase the kept text and files of messages deleted longer ago than
    # DELETED_MESSAGE_RETENTION_DAYS (in batches), and drop edits parked as long for a message
    # that never came.
    "erase-deleted-messages": {
        "task": "conversations.tasks.erase_deleted_messages",
        "schedule": timedelta(seconds=env.int("ERASE_DELETED_EVERY_S", default=3600)),
    },
    # Every 30 seconds: run the receivers of webhook announcements whose drain task was lost
    # (a request queues one whenever none is queued; conversations/announce_queue.py).
    "drain-announcements": {
        "task": "conversations.tasks.drain_announcements",
        "schedule": timedelta(seconds=env.int("ANNOUNCE_DRAIN_EVERY_S", default=30)),
    },
    # Daily (PostgreSQL): create the message and event partitions of the coming months, drop
    # those past HISTORY_RETENTION_MONTHS (conversations.partitions).
    "maintain-partitions": {
        "task": "conversations.tasks.maintain_partitions",
        "schedule": timedelta(seconds=env.int("PARTITION_MAINTENANCE_EVERY_S", default=86400)),
    },
}

# --- Proactive messaging API and audit log (docs/api.md, docs/audit.md) -------------------------
# Template sends per channel and minute through the API; beyond it, 429 with Retry-After.
API_SENDS_PER_MINUTE = env.int("API_SENDS_PER_MINUTE", default=60)
# How long an Idempotency-Key's answer is kept (a retry with the key within it sends nothing).
API_IDEMPOTENCY_TTL = timedelta(hours=env.int("API_IDEMPOTENCY_TTL_HOURS", default=24))
# Outgoing webhooks: attempts before a delivery is given up, and the timeout of one attempt.
API_WEBHOOK_MAX_ATTEMPTS = env.int("API_WEBHOOK_MAX_ATTEMPTS", default=8)
API_WEBHOOK_TIMEOUT_S = env.float("API_WEBHOOK_TIMEOUT_S", default=5.0)
API_WEBHOOK_BATCH_SIZE = env.int("API_WEBHOOK_BATCH_SIZE", default=100)
# Integrators' webhook URLs must be https (outside DEBUG): deliveries carry conversation data.
API_WEBHOOK_REQUIRE_HTTPS = env.bool("API_WEBHOOK_REQUIRE_HTTPS", default=not DEBUG)
# Allow webhook URLs on loopback/private/link-local addresses (a local test receiver). Off in
# production: an API token holder could otherwise make the desk POST to internal services.
API_WEBHOOK_ALLOW_PRIVATE = env.bool("API_WEBHOOK_ALLOW_PRIVATE", default=DEBUG)
# Audit rows are kept at least this long (a year and a month by default), then pruned daily.
AUDIT_RETENTION_DAYS = max(365, env.int("AUDIT_RETENTION_DAYS", default=400))
AUDIT_PRUNE_BATCH_SIZE = env.int("AUDIT_PRUNE_BATCH_SIZE", default=5000)

# --- WhatsApp Cloud API ------------------------------------------------------------------------
WHATSAPP_GRAPH_URL = env("WHATSAPP_GRAPH_URL", default="http://127.0.0.1:8025/v23.0")
WHATSAPP_APP_SECRET = env("WHATSAPP_APP_SECRET", default="dev-app-secret")
WHATSAPP_VERIFY_TOKEN = env("WHATSAPP_VERIFY_TOKEN", default="dev-verify-token")
WHATSAPP_HTTP_TIMEOUT = env.float("WHATSAPP_HTTP_TIMEOUT", default=10.0)
# Where inbound media may be downloaded from (the URL the Graph API answers): https only, unless
# an entry says http://host:port. Meta's media host by default; with DEBUG also the origin of
# WHATSAPP_GRAPH_URL (the emulator, http://127.0.0.1:8025 in development).
WHATSAPP_MEDIA_HOSTS = env.list(
    "WHATSAPP_MEDIA_HOSTS",
    default=[
        "lookaside.fbsbx.com",
        *(["/".join(WHATSAPP_GRAPH_URL.split("/")[:3])] if DEBUG else []),
    ],
)
# Where the emulator delivers its signed webhooks (the app's own endpoint in development).
WHATSAPP_EMULATOR_WEBHOOK_URL = env(
    "WHATSAPP_EMULATOR_WEBHOOK_URL", default="http://127.0.0.1:8000/webhooks/whatsapp/"
)
# Meta's batches can pass Django's 2.5 MB DATA_UPLOAD_MAX_MEMORY_SIZE (kept for every other
# URL): the webhook alone reads up to this, and answers 413 above it before reading a byte.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=4 * 1024 * 1024)
# A webhook of at most this many messages/statuses is applied in the request (nearly all carry
# one); a larger one is stored as received and applied by the worker, so that the answer never
# waits for it (conversations.inbound_payloads).
WEBHOOK_INLINE_MAX_ITEMS = env.int("WEBHOOK_INLINE_MAX_ITEMS", default=50)
# What a webhook stores is announced to the receivers (live push, routing, SLA clocks, rules,
# API webhooks) by the worker (one hand-over per request: conversations.signals), not in the
# request the provider waits on; with the broker down they run in the request
# (docs/architecture.md).
ANNOUNCE_WEBHOOKS_IN_WORKER = env.bool("ANNOUNCE_WEBHOOKS_IN_WORKER", default=True)
# With a Redis broker a request's announcements go onto a Redis list in one round trip, drained
# by the worker in batches (conversations/announce_queue.py); empty: one Celery task per request.
ANNOUNCE_QUEUE_URL = (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
# Events applied per transaction: short enough that SQLite's write lock is held well under a
# second (a concurrent login waits for it, up to the 20 s busy timeout, never fails).
WEBHOOK_CHUNK_EVENTS = env.int("WEBHOOK_CHUNK_EVENTS", default=50)
# The worker pauses this long between chunks on SQLite, where a writer waiting for the lock (a
# login) would otherwise lose it to the next chunk every time; PostgreSQL locks rows, not the file.
WEBHOOK_CHUNK_PAUSE_S = env.float(
    "WEBHOOK_CHUNK_PAUSE_S",
    default=0.12 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 0.0,
)
# A stored body still waiting this long lost its task (broker down): the sweep queues it again.
INBOUND_PAYLOAD_QUEUED_AFTER = timedelta(
    seconds=env.int("INBOUND_PAYLOAD_QUEUED_AFTER_S", default=60)
)
# A worker writes a heartbeat with every chunk; none for this long means it died, and the sweep
# lets another claim resume the payload. Far above one chunk's time, so a live one never looks dead.
INBOUND_PAYLOAD_STALE_AFTER = timedelta(
    seconds=env.int("INBOUND_PAYLOAD_STALE_AFTER_S", default=300)
)
# One task applies a payload this long, then hands the rest to a fresh task (below the task's
# soft time limit, so it is never cut mid-chunk).
INBOUND_PAYLOAD_TASK_BUDGET_S = env.float("INBOUND_PAYLOAD_TASK_BUDGET_S", default=60.0)
INBOUND_PAYLOAD_RETENTION = timedelta(days=env.int("INBOUND_PAYLOAD_RETENTION_DAYS", default=7))

# --- Product -----------------------------------------------------------------------------------
# A message the customer deleted keeps its text and attachments this long, readable only by
# Supervisors (access.Cap.SEE_DELETED), then the erase job removes them.
DELETED_MESSAGE_RETENTION = timedelta(days=env.int("DELETED_MESSAGE_RETENTION_DAYS", default=30))
ERASE_DELETED_BATCH_SIZE = env.int("ERASE_DELETED_BATCH_SIZE", default=500)
# A history webhook can carry thousands of past messages: stored this many per transaction.
HISTORY_IMPORT_BATCH_SIZE = env.int("HISTORY_IMPORT_BATCH_SIZE", default=500)
# Messages and events are partitioned by month on PostgreSQL (docs/partitions.md): partitions
# exist this many months ahead; with a retention of N > 0 months, history older than the current
# month and the N months before it is dropped (0: keep everything).
PARTITION_MONTHS_AHEAD = env.int("PARTITION_MONTHS_AHEAD", default=3)
HISTORY_RETENTION_MONTHS = env.int("HISTORY_RETENTION_MONTHS", default=0)
# Free-form replies stop this long before the 24-hour window closes, for queue latency and skew.
WHATSAPP_WINDOW_SAFETY_MARGIN = timedelta(
    seconds=env.int("WHATSAPP_WINDOW_SAFETY_MARGIN_S", default=60)
)
# The outbound sweep re-sends a reply still queued this long after it was written (the broker lost
# it), and releases a claim this long after a worker took it (the worker died mid-send). The
# second must stay well above WHATSAPP_HTTP_TIMEOUT: a live send must never look dead.
OUTBOUND_STUCK_QUEUED_AFTER = timedelta(
    seconds=env.int("OUTBOUND_STUCK_QUEUED_AFTER_S", default=120)
)
# A media download (or a sweep's enqueue of one) holds its message this long; a claim older than
# that belongs to a dead worker and the media sweep queues the download again. Above the task
# time limit, so a live download never looks dead.
MEDIA_DOWNLOAD_CLAIM_TIMEOUT = timedelta(
    seconds=env.int("MEDIA_DOWNLOAD_CLAIM_TIMEOUT_S", default=600)
)
OUTBOUND_STUCK_SENDING_AFTER = timedelta(
    seconds=env.int("OUTBOUND_STUCK_SENDING_AFTER_S", default=600)
)
AUTORESOLVE_BATCH_SIZE = env.int("AUTORESOLVE_BATCH_SIZE", default=500)
# Batch loops run side by side on PostgreSQL, each on its own connection and share of channels.
AUTORESOLVE_WORKERS = env.int("AUTORESOLVE_WORKERS", default=2)
INBOX_PAGE_SIZE = env.int("INBOX_PAGE_SIZE", default=50)
# The conversation page shows this many messages and notes, newest last; older ones a click away.
THREAD_PAGE_SIZE = env.int("THREAD_PAGE_SIZE", default=50)

# --- Routing (routing/, docs/routing.md) -------------------------------------------------------
# An Available agent without activity in any open page this long becomes Away.
ROUTING_IDLE_AWAY_AFTER = timedelta(seconds=env.int("ROUTING_IDLE_AWAY_AFTER_S", default=600))
# After the last open page closes, Offline this much later unless a page opens (a reload).
ROUTING_OFFLINE_GRACE = timedelta(seconds=env.int("ROUTING_OFFLINE_GRACE_S", default=30))
# An Offline agent's New conversations lose their assignee this long after they went Offline.
ROUTING_UNASSIGN_AFTER = timedelta(seconds=env.int("ROUTING_UNASSIGN_AFTER_S", default=120))
# Rows one sweep handles per timer and per channel; the next sweep continues.
ROUTING_SWEEP_BATCH = env.int("ROUTING_SWEEP_BATCH", default=500)
# Snoozed conversations woken (and Pending ones boomeranged) per transaction.
ROUTING_WAKE_BATCH = env.int("ROUTING_WAKE_BATCH", default=1000)

# --- Logging -----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # The webhook handshake's verify token travels in the query string: no line may carry it.
    "filters": {"webhook_query": {"()": "config.log_filters.WebhookQueryStringFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["webhook_query"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes announces its configuration at every start of every command.
        "axes.apps": {"level": "WARNING"},
        # runserver's request lines, through the filtered console instead of Django's handler.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
