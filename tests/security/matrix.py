"""Who gets what from every URL of the project: the expectations the security tests check.

The table is written from the rules, never read back from the code under test:

* DESIGN.md's capability table (restated below as ``DESIGN_TABLE``; a test pins it to
  channels_app.access so that the two cannot drift apart);
* channels_app/access.py's policy: a channel (or conversation) the user cannot see is a 404, one
  they see with too low a role a 403; anonymous users of desk pages are sent to the desk login;
* the admin: only staff may enter it (others are sent to the admin login), and inside it every
  desk model is for admins (superusers or holders of ``administer_channels``), per ``MODEL_RULES``.

Every URL pattern of the URLconf must have an entry in ``matrix()`` (keyed by the pattern's name,
or its route when it has none); test_url_matrix fails naming any pattern without one, so a new
view cannot go live without someone deciding who may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

# The six personas of issue #8, plus two that only the admin tells apart: a staff member with no
# desk permission, and a non-superuser holding channels_app.administer_channels.
PERSONAS = (
    "anonymous",
    "outsider",
    "viewer",
    "contributor",
    "supervisor",
    "staff",
    "channel_admin",
    "admin",
)
NON_STAFF = ("anonymous", "outsider", "viewer", "contributor", "supervisor")
STAFF = ("staff", "channel_admin", "admin")

# --- DESIGN.md section 1, the capability table, as data -------------------------------------------
ROLE_ORDER = ("viewer", "contributor", "supervisor", "admin")
DESIGN_TABLE = {
    "see": {"viewer", "contributor", "supervisor", "admin"},
    "triage": {"viewer", "contributor", "supervisor", "admin"},
    "annotate": {"viewer", "contributor", "supervisor", "admin"},
    "reply": {"contributor", "supervisor", "admin"},
    "assign": {"contributor", "supervisor", "admin"},
    "be_assigned": {"contributor", "supervisor", "admin"},
    "reports": {"supervisor", "admin"},
    "monitor": {"supervisor", "admin"},
    "see_deleted": {"supervisor", "admin"},
    "configure": {"admin"},
}

# Each persona's role on the fixture world's two channels (None: no access, the channel does not
# exist for them). "Admin" is what superusers and channel administrators are everywhere.
ROLE_ON = {
    "cast": {
        "outsider": None,
        "viewer": "viewer",
        "contributor": "contributor",
        "supervisor": "supervisor",
        "staff": None,
        "channel_admin": "admin",
        "admin": "admin",
    },
    "other": {
        "outsider": None,
        "viewer": None,
        "contributor": None,
        "supervisor": None,
        "staff": None,
        "channel_admin": "admin",
        "admin": "admin",
    },
}


# --- expected answers -----------------------------------------------------------------------------
class Expect:
    def matches(self, response) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Status(Expect):
    code: int

    def matches(self, response) -> bool:
        return response.status_code == self.code

    def __str__(self) -> str:
        return str(self.code)


@dataclass(frozen=True)
class Redirect(Expect):
    """A 302 whose Location starts with ``to`` (a path, with its query string if given)."""

    to: str

    def matches(self, response) -> bool:
        return response.status_code == 302 and response["Location"].startswith(self.to)

    def __str__(self) -> str:
        return f"302 → {self.to}"


@dataclass(frozen=True)
class Allowed(Expect):
    """The request was let through: a page (200, form errors included) or a redirect that is
    not a login page. What the action then did is the business of the feature tests."""

    def matches(self, response) -> bool:
        if response.status_code == 200:
            return True
        if response.status_code in (301, 302, 303):
            return not response["Location"].startswith(("/login/", "/admin/login/"))
        return False

    def __str__(self) -> str:
        return "allowed (200, or a redirect that is not a login)"


OK = Status(200)
ALLOWED = Allowed()
FORBIDDEN = Status(403)
NOT_FOUND = Status(404)
NOT_ALLOWED = Status(405)
LOGIN = Redirect("/login/?next=")
ADMIN_LOGIN = Redirect("/admin/login/?next=")


def everyone(expect: Expect) -> dict[str, Expect]:
    return dict.fromkeys(PERSONAS, expect)


def desk(cap: str, *, on: str = "cast", allowed: Expect = ALLOWED) -> dict[str, Expect]:
    """A desk page or action needing ``cap`` on a channel: anonymous → login, invisible → 404,
    visible but too low a role → 403, else ``allowed``."""
    expect: dict[str, Expect] = {"anonymous": LOGIN}
    for persona, role in ROLE_ON[on].items():
        if role is None:
            expect[persona] = NOT_FOUND
        elif role in DESIGN_TABLE[cap]:
            expect[persona] = allowed
        else:
            expect[persona] = FORBIDDEN
    return expect


def holds_anywhere(cap: str) -> dict[str, Expect]:
    """A page for users holding ``cap`` on at least one channel (else 403, nothing to hide)."""
    expect: dict[str, Expect] = {"anonymous": LOGIN}
    for persona in PERSONAS[1:]:
        roles = {ROLE_ON[on][persona] for on in ROLE_ON}
        expect[persona] = OK if roles & DESIGN_TABLE[cap] else FORBIDDEN
    return expect


def admin_page(staff: dict[str, Expect]) -> dict[str, Expect]:
    """An admin page: non-staff are sent to the admin login, staff get ``staff[persona]``."""
    return {**dict.fromkeys(NON_STAFF, ADMIN_LOGIN), **staff}


# What each staff persona may do with each registered model: v(iew), a(dd), c(hange), d(elete).
# Desk models need Cap.CONFIGURE (admins only). Conversations are read-only for everyone in the
# admin (they change through the services). The world's message template is an approved one,
# which nobody may delete (Meta owns it). Channel admins may look users up (grant autocomplete,
# effective roles) but changing accounts stays with Django's own user permissions.
DESK_ADMINS = {"staff": "", "channel_admin": "vacd", "admin": "vacd"}
MODEL_RULES: dict[str, dict[str, str]] = {
    "channels_app.channel": DESK_ADMINS,
    "channels_app.team": DESK_ADMINS,
    "channels_app.messagetemplate": {"staff": "", "channel_admin": "vac", "admin": "vac"},
    "onboarding.onboarding": DESK_ADMINS,
    "conversations.tag": DESK_ADMINS,
    "conversations.topic": DESK_ADMINS,
    "conversations.conversation": {"staff": "", "channel_admin": "v", "admin": "v"},
    "replies.savedreply": DESK_ADMINS,
    "routing.channelrouting": DESK_ADMINS,
    "routing.agentstate": DESK_ADMINS,
    "routing.teamrouting": DESK_ADMINS,
    "routing.contactlanguage": DESK_ADMINS,
    "service_levels.holidayset": DESK_ADMINS,
    "service_levels.servicesettings": DESK_ADMINS,
    "service_levels.slapolicy": DESK_ADMINS,
    # Surveys are written by the service levels only: admins read them (and may delete one).
    "service_levels.csatsurvey": {"staff": "", "channel_admin": "vd", "admin": "vd"},
    # The messaging API's tokens are for desk admins (revoked, never deleted); its delivery log
    # and the audit log are read-only for them (rows are written by the desk, never by hand).
    "api.apitoken": {"staff": "", "channel_admin": "vac", "admin": "vac"},  # revoked, not deleted
    "api.webhookdelivery": {"staff": "", "channel_admin": "v", "admin": "v"},
    "audit.auditentry": {"staff": "", "channel_admin": "v", "admin": "v"},
    "auth.user": {"staff": "", "channel_admin": "v", "admin": "vacd"},
    "auth.group": {"staff": "", "channel_admin": "", "admin": "vacd"},
    # django-axes: superusers read the failed logins and unlock by deleting an attempt; nobody
    # adds one by hand, and every field is read-only.
    "axes.accessattempt": {"staff": "", "channel_admin": "", "admin": "vcd"},
    "axes.accesslog": {"staff": "", "channel_admin": "", "admin": "vcd"},
    "axes.accessfailurelog": {"staff": "", "channel_admin": "", "admin": "vcd"},
    # Issue 19: automation rules and opt-out words are desk settings; the opt-outs and the
    # channels' health are written by their services only, so admins read them.
    "automations.automationrule": DESK_ADMINS,
    "automations.optoutword": DESK_ADMINS,
    "automations.marketingoptout": {"staff": "", "channel_admin": "v", "admin": "v"},
    "channels_app.channelhealth": {"staff": "", "channel_admin": "v", "admin": "v"},
    "channels_app.healthevent": {"staff": "", "channel_admin": "v", "admin": "v"},
}


# Models whose admin lists only the objects the user may see (ChannelAdmin asks
# channels_visible_to): for someone without "v" the object does not exist, and on the pages that
# look the object up before checking permissions (history) Django answers its "does not exist"
# redirect to the admin index, exactly as for a missing id.
HIDDEN_FROM_OUTSIDERS = {"channels_app.channel"}
MISSING_OBJECT = Redirect("/admin/")


def _may(model: str, op: str, ok: Expect = OK) -> dict[str, Expect]:
    return admin_page({p: ok if op in MODEL_RULES[model][p] else FORBIDDEN for p in STAFF})


# --- cases ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    label: str
    method: str
    url: Callable[[SimpleNamespace], str]
    expect: dict[str, Expect]
    data: Callable[[SimpleNamespace], dict] = field(default=lambda w: {})
    # Logging out ends the persona's session, which the other cases share: it gets its own.
    fresh_session: bool = False


def get(label, url, expect, data=None) -> Case:
    return Case(label, "GET", url, expect, data or (lambda w: {}))


def post(label, url, expect, data=None, *, fresh_session=False) -> Case:
    return Case(label, "POST", url, expect, data or (lambda w: {}), fresh_session)


def _conversation_url(name):
    return lambda conversation: reverse(f"conversations:{name}", args=[conversation.pk])


# POST actions on a conversation: the capability each needs and a valid form for it.
CONVERSATION_ACTIONS = {
    "reply": ("reply", lambda w: {"body": "We are on it."}),
    "send_template": ("reply", lambda w: {"template": w.template.pk}),
    "move": ("triage", lambda w: {"to": "pending"}),
    "assign": ("assign", lambda w: {"assignee": "me"}),
    "tag": ("annotate", lambda w: {"id": w.tag.pk, "action": "add"}),
    "topic": ("annotate", lambda w: {"id": w.topic.pk, "action": "add"}),
    "note": ("annotate", lambda w: {"body": "Called back, no answer."}),
}


def _retry(conversation, message) -> str:
    return reverse("conversations:retry", args=[conversation.pk, message.pk])


def _attachment(conversation, message) -> str:
    return reverse("conversations:attachment", args=[conversation.pk, message.pk])


# The messaging API (docs/api.md) authenticates by bearer token only: a desk session is no
# credential there, so every persona's request is a 401; the OpenAPI document is public.
API_OPERATIONS = {
    "api-v1:channels": ("GET", lambda w: "/api/v1/channels"),
    "api-v1:templates": ("GET", lambda w: f"/api/v1/channels/{w.cast.channel.pk}/templates"),
    "api-v1:send_template": ("POST", lambda w: "/api/v1/messages/template"),
    "api-v1:conversation": ("GET", lambda w: f"/api/v1/conversations/{w.visible.pk}"),
    "api-v1:messages": ("GET", lambda w: f"/api/v1/conversations/{w.visible.pk}/messages"),
    "api-v1:list_webhooks": ("GET", lambda w: "/api/v1/webhooks"),
    "api-v1:create_webhook": ("POST", lambda w: "/api/v1/webhooks"),
    # DELETE only; the matrix's client speaks GET and POST (tests/api checks DELETE's 401).
    "api-v1:delete_webhook": ("POST", lambda w: "/api/v1/webhooks/1"),
}


def _api_cases() -> dict[str, list[Case]]:
    cases: dict[str, list[Case]] = {
        "api-v1:openapi-json": [
            get("the OpenAPI document", lambda w: "/api/v1/openapi.json", everyone(OK))
        ],
        "api-v1:api-root": [get("the API's root", lambda w: "/api/v1/", everyone(NOT_FOUND))],
    }
    for key, (method, url) in API_OPERATIONS.items():
        unauthorized = everyone(Status(401))
        if method == "GET":
            cases[key] = [get(f"{key} with a session", url, unauthorized)]
        elif key == "api-v1:delete_webhook":
            cases[key] = [post(f"{key} by POST", url, everyone(NOT_ALLOWED))]
        else:
            cases[key] = [post(f"{key} with a session", url, unauthorized)]
    return cases


def _desk_cases() -> dict[str, list[Case]]:
    detail = _conversation_url("detail")
    cases: dict[str, list[Case]] = {
        "": [
            get("root", lambda w: "/", everyone(Redirect("/inbox/"))),
            post("root", lambda w: "/", everyone(Redirect("/inbox/"))),
        ],
        "login": [
            get(
                "desk login",
                lambda w: reverse("login"),
                {**everyone(Redirect("/inbox/")), "anonymous": OK},
            ),
            post(
                "wrong password",
                lambda w: reverse("login"),
                {**everyone(Redirect("/inbox/")), "anonymous": OK},
                lambda w: {"username": "vic_viewer", "password": "not-the-password"},
            ),
        ],
        "logout": [
            get("logout by GET", lambda w: reverse("logout"), everyone(NOT_ALLOWED)),
            post(
                "logout",
                lambda w: reverse("logout"),
                everyone(Redirect("/login/")),
                fresh_session=True,
            ),
        ],
        "set_language": [
            post(
                "switch to German",
                lambda w: reverse("set_language"),
                everyone(Redirect("/inbox/")),
                lambda w: {"language": "de", "next": "/inbox/"},
            ),
        ],
        "conversations:inbox": [
            get("inbox", lambda w: reverse("conversations:inbox"), desk_any_login()),
        ],
        "conversations:detail": [
            get("visible conversation", lambda w: detail(w.visible), desk("see", allowed=OK)),
            get(
                "conversation on an invisible channel",
                lambda w: detail(w.invisible),
                desk("see", on="other", allowed=OK),
            ),
            get(
                "missing conversation",
                lambda w: reverse("conversations:detail", args=[987654321]),
                {**everyone(NOT_FOUND), "anonymous": LOGIN},
            ),
        ],
        "conversations:attachment": [
            get(
                "attachment of a visible conversation",
                lambda w: _attachment(w.visible, w.visible_file),
                desk("see", allowed=OK),
            ),
            get(
                "attachment on an invisible channel",
                lambda w: _attachment(w.invisible, w.invisible_file),
                desk("see", on="other", allowed=OK),
            ),
            # Another conversation's file under a visible conversation's URL: no one, not even
            # an admin, gets it (the message is looked up within the conversation).
            get(
                "attachment of another conversation",
                lambda w: _attachment(w.visible, w.invisible_file),
                {**everyone(NOT_FOUND), "anonymous": LOGIN},
            ),
        ],
        "conversations:retry": [
            get(
                "retry by GET",
                lambda w: _retry(w.visible, w.failed_reply),
                everyone(NOT_ALLOWED),
            ),
            # Allowed through to the service, which refuses a failure that cannot be retried.
            post(
                "retry a failed reply",
                lambda w: _retry(w.visible, w.failed_reply),
                desk("reply"),
            ),
            # Not a reply of that conversation: 404 even for admins.
            post(
                "retry on an invisible channel",
                lambda w: _retry(w.invisible, w.invisible_file),
                desk("reply", on="other", allowed=NOT_FOUND),
            ),
        ],
        "reports:index": [
            get(
                "reports, all my channels",
                lambda w: reverse("reports:index"),
                holds_anywhere("reports"),
            ),
            get(
                "reports of the cast channel",
                lambda w: reverse("reports:index") + f"?channel={w.cast.channel.pk}",
                desk("reports", allowed=OK),
            ),
            get(
                "reports of an invisible channel",
                lambda w: reverse("reports:index") + f"?channel={w.cast.other_channel.pk}",
                desk("reports", on="other", allowed=OK),
            ),
        ],
        # Issue 19: an agent opts the customer out of marketing or back in (Cap.ANNOTATE; the
        # empty form is refused by the service with a message, after the access checks).
        "automations:consent": [
            get(
                "consent by GET",
                lambda w: reverse("automations:consent", args=[w.visible.pk]),
                everyone(NOT_ALLOWED),
            ),
            post(
                "consent on a visible conversation",
                lambda w: reverse("automations:consent", args=[w.visible.pk]),
                desk("annotate"),
            ),
            post(
                "consent on an invisible conversation",
                lambda w: reverse("automations:consent", args=[w.invisible.pk]),
                desk("annotate", on="other"),
            ),
        ],
        # The health banner's feed: any staff member may ask; only admins get alerts in it.
        "admin:channels_app_channelhealth_alerts": [
            get(
                "health alerts feed",
                lambda w: reverse("admin:channels_app_channelhealth_alerts"),
                admin_page(dict.fromkeys(STAFF, OK)),
            ),
        ],
        # Issue 17: the live monitor (Supervisors of some channel) and the availability switch.
        "routing:monitor": [
            get("the live monitor", lambda w: reverse("routing:monitor"), holds_anywhere("monitor"))
        ],
        "routing:availability": [
            get(
                "availability by GET",
                lambda w: reverse("routing:availability"),
                everyone(NOT_ALLOWED),
            ),
            post(
                "set Available",
                lambda w: reverse("routing:availability"),
                {**everyone(Redirect("/")), "anonymous": LOGIN},
                lambda w: {"availability": "available"},
            ),
        ],
        "routing:snooze": [
            get(
                "snooze by GET",
                lambda w: reverse("routing:snooze", args=[w.visible.pk]),
                everyone(NOT_ALLOWED),
            ),
            post(
                "snooze a visible conversation",
                lambda w: reverse("routing:snooze", args=[w.visible.pk]),
                desk("triage"),
                lambda w: {"choice": "1h"},
            ),
            post(
                "snooze on an invisible channel",
                lambda w: reverse("routing:snooze", args=[w.invisible.pk]),
                desk("triage", on="other"),
                lambda w: {"choice": "1h"},
            ),
        ],
        # The live pages' endpoints (realtime/): POST only, then the login, then the access
        # check of the conversation (read) or of each selected conversation (bulk: the ones the
        # user may not change are named in the answer, the request itself goes through).
        "realtime:read": [
            get(
                "read by GET",
                lambda w: reverse("realtime:read", args=[w.visible.pk]),
                everyone(NOT_ALLOWED),
            ),
            post(
                "read a visible conversation",
                lambda w: reverse("realtime:read", args=[w.visible.pk]),
                desk("see", allowed=Status(204)),
            ),
            post(
                "read on an invisible channel",
                lambda w: reverse("realtime:read", args=[w.invisible.pk]),
                desk("see", on="other", allowed=Status(204)),
            ),
        ],
        "realtime:bulk": [
            get("bulk by GET", lambda w: reverse("realtime:bulk"), everyone(NOT_ALLOWED)),
            # Move to Pending, not Resolve (the same Cap.TRIAGE): the group's world is shared, and
            # a resolved conversation cannot be snoozed (routing:snooze comes next: a 400).
            post(
                "bulk move to Pending",
                lambda w: reverse("realtime:bulk"),
                {**everyone(Redirect("/inbox/")), "anonymous": LOGIN},
                lambda w: {"ids": [w.visible.pk, w.invisible.pk], "action": "pending"},
            ),
        ],
        **_saved_reply_cases(),
        **_composer_cases(),
        **_api_cases(),
        "webhooks:whatsapp": [
            get(
                "handshake without parameters",
                lambda w: reverse("webhooks:whatsapp"),
                everyone(Status(400)),
            ),
            get(
                "handshake with a wrong verify token",
                lambda w: (
                    reverse("webhooks:whatsapp")
                    + "?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=42"
                ),
                everyone(FORBIDDEN),
            ),
            post(
                "unsigned event",
                lambda w: reverse("webhooks:whatsapp"),
                everyone(FORBIDDEN),
                lambda w: {"object": "whatsapp_business_account", "entry": []},
            ),
        ],
        # Any medium's webhook (channels_app.transports): a kind nobody registered is a 404,
        # WhatsApp's through the same path checks its signature as above.
        "webhooks:inbound": [
            get(
                "handshake of an unknown medium",
                lambda w: reverse("webhooks:inbound", args=["pigeon"]),
                everyone(NOT_FOUND),
            ),
            post(
                "event to an unknown medium",
                lambda w: reverse("webhooks:inbound", args=["pigeon"]),
                everyone(NOT_FOUND),
                lambda w: {"object": "whatsapp_business_account", "entry": []},
            ),
            post(
                "unsigned event by kind",
                lambda w: reverse("webhooks:inbound", args=["whatsapp"]),
                everyone(FORBIDDEN),
                lambda w: {"object": "whatsapp_business_account", "entry": []},
            ),
        ],
    }
    for name, (cap, data) in CONVERSATION_ACTIONS.items():
        url = _conversation_url(name)
        cases[f"conversations:{name}"] = [
            # require_POST comes before the login check: a GET is refused for everyone alike.
            get(f"{name} by GET", lambda w, url=url: url(w.visible), everyone(NOT_ALLOWED)),
            post(
                f"{name} on a visible conversation",
                lambda w, url=url: url(w.visible),
                desk(cap),
                data,
            ),
            post(
                f"{name} on an invisible channel",
                lambda w, url=url: url(w.invisible),
                desk(cap, on="other"),
                data,
            ),
        ]
    # Only a user who can reply may be assigned: naming a Viewer is a 400 for whoever may
    # assign (the picker never offers one); the role checks come first.
    cases["conversations:assign"].append(
        post(
            "assign a Viewer",
            lambda w: _conversation_url("assign")(w.visible),
            desk("assign", allowed=Status(400)),
            lambda w: {"assignee": str(w.cast.viewer.pk)},
        )
    )
    return cases


@dataclass(frozen=True)
class OneOf(Expect):
    """Any of these statuses: the page pings answer 202 when they queued a receipt or the typing
    indicator and 204 when there was nothing to send (e.g. one was sent seconds ago)."""

    codes: tuple[int, ...]

    def matches(self, response) -> bool:
        return response.status_code in self.codes

    def __str__(self) -> str:
        return " or ".join(map(str, self.codes))


PINGED = OneOf((202, 204))

# The composer's POST actions (composer/urls.py, docs/composer.md), all Cap.REPLY on the
# conversation's channel. An empty form gets through the checks and is refused with a message
# (a redirect back to the page); the page's pings answer 202/204.
COMPOSER_ACTIONS = {
    "attach": ALLOWED,
    "voice": ALLOWED,
    "buttons": ALLOWED,
    "list": ALLOWED,
    "location": ALLOWED,
    "contact": ALLOWED,
    "seen": PINGED,
    "typing": PINGED,
}


def _react(conversation, message) -> str:
    return reverse("composer:react", args=[conversation.pk, message.pk])


def _composer_cases() -> dict[str, list[Case]]:
    """require_POST before the login (a GET is a 405 for everyone), then the login, then
    conversation_for(needs=Cap.REPLY): 404 on a channel the user does not see, 403 for a Viewer."""
    cases: dict[str, list[Case]] = {}
    for name, allowed in COMPOSER_ACTIONS.items():

        def url(conversation, name=name):
            return reverse(f"composer:{name}", args=[conversation.pk])

        cases[f"composer:{name}"] = [
            get(f"{name} by GET", lambda w, url=url: url(w.visible), everyone(NOT_ALLOWED)),
            post(
                f"{name} on a visible conversation",
                lambda w, url=url: url(w.visible),
                desk("reply", allowed=allowed),
            ),
            post(
                f"{name} on an invisible channel",
                lambda w, url=url: url(w.invisible),
                desk("reply", on="other", allowed=allowed),
            ),
        ]
    cases["composer:react"] = [
        get(
            "react by GET",
            lambda w: _react(w.visible, w.visible_file),
            everyone(NOT_ALLOWED),
        ),
        post(
            "react to a message of a visible conversation",
            lambda w: _react(w.visible, w.visible_file),
            desk("reply"),
        ),
        post(
            "react on an invisible channel",
            lambda w: _react(w.invisible, w.invisible_file),
            desk("reply", on="other"),
        ),
    ]
    return cases


def _saved_reply_cases() -> dict[str, list[Case]]:
    """The saved-reply pages are for users who can reply somewhere (else 403, with the reason);
    a personal reply is its owner's (the contributor's), anyone else's 404. The composer's JSON
    endpoints answer anonymous users 401 (a script is asking) and load the conversation with the
    reply capability."""
    repliers = holds_anywhere("reply")
    own = {**repliers, "contributor": OK}
    own.update({p: NOT_FOUND for p, e in repliers.items() if e == OK and p != "contributor"})
    unauthorised = Status(401)

    def edit(w):
        return reverse("replies:edit", args=[w.own_reply.pk])

    def delete(w):
        return reverse("replies:delete", args=[w.doomed_reply.pk])

    def composer(name, conversation, extra=""):
        def url(w):
            base = reverse("replies:search")
            if name == "rendered":
                base = reverse("replies:rendered", args=[w.global_reply.pk])
            return f"{base}?conversation={getattr(w, conversation).pk}{extra}"

        return url

    json_desk = {**desk("reply", allowed=OK), "anonymous": unauthorised}
    json_other = {**desk("reply", on="other", allowed=OK), "anonymous": unauthorised}
    return {
        "replies:manage": [get("saved replies", lambda w: reverse("replies:manage"), repliers)],
        "replies:add": [
            get("add form", lambda w: reverse("replies:add"), repliers),
            post("add, empty form", lambda w: reverse("replies:add"), repliers),
        ],
        "replies:edit": [
            get("edit the contributor's reply", edit, own),
            post("edit, empty form", edit, {**own, "contributor": ALLOWED}),
        ],
        "replies:delete": [
            get("delete confirmation", delete, own),
            post("delete", delete, {**own, "contributor": ALLOWED}),
        ],
        "replies:search": [
            get(
                "search for a visible conversation",
                composer("search", "visible", "&q=hel"),
                json_desk,
            ),
            get(
                "search for a conversation on an invisible channel",
                composer("search", "invisible", "&q=hel"),
                json_other,
            ),
            get(
                "search without a conversation",
                lambda w: reverse("replies:search") + "?q=hel",
                {**repliers, "anonymous": unauthorised},
            ),
            post("search by POST", lambda w: reverse("replies:search"), everyone(NOT_ALLOWED)),
        ],
        "replies:rendered": [
            get("rendered for a visible conversation", composer("rendered", "visible"), json_desk),
            get(
                "rendered for a conversation on an invisible channel",
                composer("rendered", "invisible"),
                json_other,
            ),
        ],
    }


def desk_any_login() -> dict[str, Expect]:
    return {**everyone(OK), "anonymous": LOGIN}


def _admin_site_cases() -> dict[str, list[Case]]:
    index = {"staff": OK, "channel_admin": OK, "admin": OK}
    cases: dict[str, list[Case]] = {
        "admin:index": [get("admin index", lambda w: reverse("admin:index"), admin_page(index))],
        "admin:login": [
            # Logged-in non-staff see the form (to log in as someone else); staff go to the index.
            get(
                "admin login",
                lambda w: reverse("admin:login"),
                {**everyone(OK), **dict.fromkeys(STAFF, Redirect("/admin/"))},
            ),
            post(
                "admin login, wrong password",
                lambda w: reverse("admin:login"),
                everyone(OK),
                lambda w: {"username": "ada_admin", "password": "not-the-password"},
            ),
        ],
        "admin:logout": [
            get(
                "admin logout by GET",
                lambda w: reverse("admin:logout"),
                {
                    **dict.fromkeys(NON_STAFF, Redirect("/admin/")),
                    **dict.fromkeys(STAFF, NOT_ALLOWED),
                },
            ),
            # LOGOUT_REDIRECT_URL sends staff to the desk login afterwards.
            post(
                "admin logout",
                lambda w: reverse("admin:logout"),
                {
                    **dict.fromkeys(NON_STAFF, Redirect("/admin/")),
                    **dict.fromkeys(STAFF, Redirect("/login/")),
                },
                fresh_session=True,
            ),
        ],
        "admin:password_change": [
            get("own password form", lambda w: reverse("admin:password_change"), admin_page(index)),
            post(
                "own password, empty form",
                lambda w: reverse("admin:password_change"),
                admin_page(index),
            ),
        ],
        "admin:password_change_done": [
            get(
                "password changed page",
                lambda w: reverse("admin:password_change_done"),
                admin_page(index),
            ),
        ],
        "admin:jsi18n": [
            get("admin catalogue", lambda w: reverse("admin:jsi18n"), admin_page(index))
        ],
        "admin:autocomplete": [
            get(
                "user autocomplete of the grant inline",
                lambda w: (
                    reverse("admin:autocomplete")
                    + "?app_label=channels_app&model_name=accessgrant&field_name=user&term=vic"
                ),
                _may("auth.user", "v"),
            ),
        ],
        # No desk model has a public URL, so "view on site" finds nothing for anyone inside.
        "admin:view_on_site": [
            get(
                "view on site",
                lambda w: reverse(
                    "admin:view_on_site",
                    args=[ContentType.objects.get_for_model(w.visible).pk, w.visible.pk],
                ),
                admin_page(dict.fromkeys(STAFF, NOT_FOUND)),
            ),
        ],
        "admin/(?P<url>.*)$": [
            get(
                "unknown admin page",
                lambda w: "/admin/no-such-page/",
                admin_page(dict.fromkeys(STAFF, NOT_FOUND)),
            ),
        ],
        "admin:auth_user_password_change": [
            get(
                "set a user's password",
                lambda w: reverse("admin:auth_user_password_change", args=[w.cast.viewer.pk]),
                _may("auth.user", "c"),
            ),
            post(
                "set a user's password, empty form",
                lambda w: reverse("admin:auth_user_password_change", args=[w.cast.viewer.pk]),
                _may("auth.user", "c"),
            ),
        ],
    }
    # An app's index page exists for a persona when they may use any model of it.
    app_cases = []
    for app_label in sorted({m.split(".")[0] for m in MODEL_RULES}):
        models = [m for m in MODEL_RULES if m.startswith(app_label + ".")]
        staff = {p: OK if any(MODEL_RULES[m][p] for m in models) else NOT_FOUND for p in STAFF}
        app_cases.append(
            get(
                f"{app_label} app index",
                lambda w, a=app_label: reverse("admin:app_list", args=[a]),
                admin_page(staff),
            )
        )
    cases["admin:app_list"] = app_cases
    cases["admin:audit_auditentry_export"] = [
        get(
            "the audit log as CSV",
            lambda w: reverse("admin:audit_auditentry_export"),
            _may("audit.auditentry", "v"),
        ),
    ]
    # The onboarding checklist's step actions: POST only, admins only; every answer goes back to
    # the change page (with a message saying what happened or why not).
    from onboarding.admin import OnboardingAdmin

    for action in OnboardingAdmin.step_actions:
        name = f"admin:onboarding_onboarding_{action}"
        cases[name] = [
            get(
                f"{action} by GET",
                lambda w, n=name: reverse(n, args=[w.onboarding.pk]),
                admin_page(dict.fromkeys(STAFF, NOT_ALLOWED)),
            ),
            post(
                f"{action}, empty form",
                lambda w, n=name: reverse(n, args=[w.onboarding.pk]),
                _may("onboarding.onboarding", "c", ALLOWED),
            ),
        ]
    return cases


def _model_cases() -> dict[str, list[Case]]:
    """Changelist, add, change, history, delete and the bare object URL of every registered
    ModelAdmin, generated from the admin registry with expectations from MODEL_RULES."""
    cases: dict[str, list[Case]] = {}
    for model in admin.site._registry:
        opts = model._meta
        label = opts.label_lower
        if label not in MODEL_RULES:
            # Reported by test_every_registered_model_has_rules, naming the model.
            continue
        base = f"admin:{opts.app_label}_{opts.model_name}"

        def obj(w, label=label):
            return w.objects[label].pk

        cases[f"{base}_changelist"] = [
            get("changelist", lambda w, b=base: reverse(f"{b}_changelist"), _may(label, "v")),
            post(
                "changelist, no action",
                lambda w, b=base: reverse(f"{b}_changelist"),
                _may(label, "v"),
            ),
        ]
        cases[f"{base}_add"] = [
            get("add form", lambda w, b=base: reverse(f"{b}_add"), _may(label, "a")),
            post("add, empty form", lambda w, b=base: reverse(f"{b}_add"), _may(label, "a")),
        ]
        cases[f"{base}_change"] = [
            get(
                "change form",
                lambda w, b=base, o=obj: reverse(f"{b}_change", args=[o(w)]),
                _may(label, "v"),
            ),
            post(
                "change, empty form",
                lambda w, b=base, o=obj: reverse(f"{b}_change", args=[o(w)]),
                _may(label, "c", ALLOWED),
            ),
        ]
        history = _may(label, "v")
        if label in HIDDEN_FROM_OUTSIDERS:
            history.update({p: MISSING_OBJECT for p in STAFF if "v" not in MODEL_RULES[label][p]})
        cases[f"{base}_history"] = [
            get("history", lambda w, b=base, o=obj: reverse(f"{b}_history", args=[o(w)]), history),
        ]
        cases[f"{base}_delete"] = [
            # An empty POST is the confirmation page again: nothing is deleted here.
            get(
                "delete confirmation",
                lambda w, b=base, o=obj: reverse(f"{b}_delete", args=[o(w)]),
                _may(label, "d"),
            ),
            post(
                "delete, unconfirmed",
                lambda w, b=base, o=obj: reverse(f"{b}_delete", args=[o(w)]),
                _may(label, "d"),
            ),
        ]
        # The bare object URL only redirects to the change page, whoever is inside.
        cases[f"admin/{opts.app_label}/{opts.model_name}/<path:object_id>/"] = [
            get(
                "bare object URL",
                lambda w, b=base, o=obj: reverse(f"{b}_change", args=[o(w)]).removesuffix(
                    "change/"
                ),
                admin_page(
                    dict.fromkeys(STAFF, Redirect(f"/admin/{opts.app_label}/{opts.model_name}/"))
                ),
            ),
        ]
    return cases


def matrix() -> dict[str, list[Case]]:
    """Every URL pattern's cases, keyed like ``url_patterns()``."""
    return {**_desk_cases(), **_admin_site_cases(), **_model_cases()}


# --- the URLconf ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    key: str
    route: str
    callback: Callable


def url_patterns() -> dict[str, Pattern]:
    """Every pattern of the root URLconf (included ones too), keyed by its namespaced name, or by
    its full route when it has none."""
    found: dict[str, Pattern] = {}

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = namespace
                if p.namespace:
                    ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                key = (f"{namespace}:{p.name}" if namespace else p.name) if p.name else route
                found.setdefault(key, Pattern(key, route, p.callback))

    walk(get_resolver().url_patterns, "", None)
    return found


# --- groups: one test (and one fixture world) per area -------------------------------------------
def group_of(key: str) -> str:
    """The area a pattern key belongs to: ``admin <app.model>`` for a model's admin pages (its
    custom views included), ``admin site``, ``conversations`` or ``desk``."""
    for model in admin.site._registry:
        opts = model._meta
        if key.startswith(
            (
                f"admin:{opts.app_label}_{opts.model_name}_",
                f"admin/{opts.app_label}/{opts.model_name}/",
            )
        ):
            return f"admin {opts.label_lower}"
    if key.startswith("admin"):
        return "admin site"
    if key.startswith("conversations:"):
        return "conversations"
    return "desk"


def grouped(keys) -> dict[str, list[str]]:
    """Keys by area, each area's deletions last: a POST that carries a CSRF token is a confirmed
    deletion, and nothing after it should miss the object."""
    groups: dict[str, list[str]] = {}
    for key in sorted(keys, key=lambda k: (k.endswith("_delete"), k)):
        groups.setdefault(group_of(key), []).append(key)
    return groups
