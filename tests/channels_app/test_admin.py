"""The admin: a smoke test over the whole registry, then the channel, team and user pages."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels_app import services
from channels_app.access import Role
from channels_app.admin import ChannelAdmin, access_summary_text
from channels_app.models import AccessGrant, Channel, Profile, Team
from tests.factories import (
    AdminUserFactory,
    ChannelFactory,
    ConversationFactory,
    GrantFactory,
    GroupFactory,
    OnboardingFactory,
    SavedReplyFactory,
    TagFactory,
    TeamFactory,
    TemplateFactory,
    TopicFactory,
    UserFactory,
)

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

FACTORIES = {
    "channels_app.Channel": ChannelFactory,
    "channels_app.Team": TeamFactory,
    "channels_app.MessageTemplate": TemplateFactory,
    "auth.User": UserFactory,
    "auth.Group": GroupFactory,
    "conversations.Tag": TagFactory,
    "conversations.Topic": TopicFactory,
    "conversations.Conversation": ConversationFactory,
    "onboarding.Onboarding": OnboardingFactory,
    "replies.SavedReply": SavedReplyFactory,
}
REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
REGISTRY_IDS = [model._meta.label for model, _ in REGISTRY]


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def channel_url(view, *args):
    return url(Channel, view, *args)


@pytest.fixture
def staff_without_rights(db):
    return UserFactory(username="stan_staff", is_staff=True)


@pytest.fixture
def channel_admin(db):
    """Staff, not superuser, holding only the channel-admin permission."""
    user = UserFactory(username="pat_channel_admin", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="administer_channels"))
    return user


class _FormValues(HTMLParser):
    """What a browser would submit for one form of a page (checked boxes, selected options)."""

    def __init__(self, form_id):
        super().__init__()
        self.form_id, self.inside, self.select, self.textarea = form_id, False, None, None
        self.data: dict[str, list[str]] = {}

    def _add(self, name, value):
        if name and "__prefix__" not in name:
            self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") in ("checkbox", "radio"):
                if "checked" in attrs:
                    self._add(attrs.get("name"), attrs.get("value") or "on")
            else:
                self._add(attrs.get("name"), attrs.get("value") or "")
        elif tag == "select":
            self.select = attrs.get("name")
        elif tag == "option" and self.select and "selected" in attrs:
            self._add(self.select, attrs.get("value") or "")
        elif tag == "textarea":
            self.textarea = attrs.get("name")
            self._add(self.textarea, "")

    def handle_data(self, data):
        if self.textarea:
            self.data[self.textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.inside = False


def form_data(response, form_id):
    parser = _FormValues(form_id)
    parser.feed(response.content.decode())
    assert parser.data, f"no form #{form_id} on the page"
    return {k: v if len(v) > 1 else v[0] for k, v in parser.data.items()}


def add_inline_row(data, prefix, **fields):
    """Append one new row to an inline formset in submitted form data."""
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    for name, value in fields.items():
        data[f"{prefix}-{index}-{name}"] = value
    return data


# The channel page has two grant inlines over one relation; the admin numbers the second prefix.
TEAMS, USERS = "grants", "grants-2"


# --- the whole registry --------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=REGISTRY_IDS)
def test_every_admin_page_opens_for_a_superuser_and_is_403_for_staff_without_rights(
    client, model, model_admin, staff_without_rights
):
    superuser = AdminUserFactory()
    factory = FACTORIES.get(model._meta.label)
    obj = factory() if factory else None
    request = RequestFactory().get("/")
    request.user = superuser

    client.force_login(superuser)
    assert client.get(url(model, "changelist")).status_code == 200
    if model_admin.has_add_permission(request):
        assert client.get(url(model, "add")).status_code == 200
    if obj is not None:
        assert client.get(url(model, "change", obj.pk)).status_code == 200

    client.force_login(staff_without_rights)
    assert client.get(url(model, "changelist")).status_code == 403
    assert client.get(url(model, "add")).status_code == 403
    if obj is not None:
        assert client.get(url(model, "change", obj.pk)).status_code == 403
    if factory is None:
        pytest.skip(f"no factory for {model._meta.label}: change page not opened")


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=REGISTRY_IDS)
def test_every_declared_action_resolves(model, model_admin):
    request = RequestFactory().get("/")
    request.user = AdminUserFactory()
    offered = model_admin.get_actions(request)
    for name in model_admin.actions or ():
        name = name if isinstance(name, str) else name.__name__
        assert model_admin.get_action(name) is not None, name
        assert name in offered, name


def test_site_has_the_desk_title_and_lists_channels_first(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:index"))

    assert "Messaging desk administration" in response.content.decode()
    apps = response.context["app_list"]
    assert apps[0]["app_label"] == "channels_app"
    assert [m["object_name"] for m in apps[0]["models"]][:2] == ["Channel", "Team"]


# --- channel changelist --------------------------------------------------------------------------
def test_changelist_shows_settings_and_access_summary(client, admin_user):
    channel = ChannelFactory(
        display_name="Acme Support",
        auto_resolve_new_after=timedelta(hours=12),
        auto_resolve_pending_after=None,
        all_users_enabled=True,
        all_users_role=Role.VIEWER,
    )
    for _ in range(3):
        GrantFactory(channel=channel)
    GrantFactory(channel=channel, user=None, team=TeamFactory())
    client.force_login(admin_user)

    page = client.get(channel_url("changelist")).content.decode()

    assert "12 hours" in page
    assert "New: 12 hours<br>Pending: off" in page
    assert "3 users, 1 team, All Users: Viewer" in page
    assert channel.display_phone_number in page


def test_access_summary_of_a_channel_without_grants_says_admins_only(db):
    channel = ChannelFactory(all_teams_enabled=True, all_teams_role=Role.SUPERVISOR)
    model_admin = ChannelAdmin(Channel, admin.site)
    request = RequestFactory().get("/")
    request.user = AdminUserFactory()
    annotated = model_admin.get_queryset(request).get(pk=channel.pk)

    assert access_summary_text(annotated) == "All Teams: Supervisor"
    channel.all_teams_enabled = False
    channel.save()
    assert access_summary_text(model_admin.get_queryset(request).get(pk=channel.pk)) == (
        "admins only"
    )


def test_changelist_escapes_user_entered_names(client, admin_user):
    channel = ChannelFactory(display_name=SCRIPT)
    GrantFactory(channel=channel, user=None, team=TeamFactory(name=SCRIPT))
    client.force_login(admin_user)

    for page in (
        client.get(channel_url("changelist")),
        client.get(channel_url("change", channel.pk)),
        client.get(url(Team, "changelist")),
    ):
        html = page.content.decode()
        assert SCRIPT not in html
        assert ESCAPED in html


def test_changelist_query_count_stays_constant_as_channels_and_grants_grow(
    client, admin_user, django_assert_num_queries
):
    client.force_login(admin_user)
    client.get(channel_url("changelist"))  # first request caches the user's time zone

    def grow(n):
        for _ in range(n):
            channel = ChannelFactory(all_users_enabled=True)
            GrantFactory(channel=channel)
            GrantFactory(channel=channel)
            GrantFactory(channel=channel, user=None, team=TeamFactory())

    counts = []
    for n in (1, 10):
        grow(n)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(channel_url("changelist")).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # session, user, count, full count, the page itself
    with django_assert_num_queries(counts[0]):
        client.get(channel_url("changelist"))
    assert counts[0] == 5, counts


def test_search_finds_a_channel_by_name_number_verified_name_or_phone_number_id(client, admin_user):
    channel = ChannelFactory(display_name="Night line", verified_name="Moonlit Outfitters")
    ChannelFactory(display_name="Day line")
    client.force_login(admin_user)

    for term in ("Night", channel.display_phone_number, "Moonlit", channel.phone_number_id):
        results = client.get(channel_url("changelist"), {"q": term}).context["cl"].result_list
        assert list(results) == [channel], term


def test_activate_and_deactivate_actions_report_counts(client, admin_user):
    live, dead = ChannelFactory(is_active=True), ChannelFactory(is_active=False)
    client.force_login(admin_user)

    response = client.post(
        channel_url("changelist"),
        {"action": "deactivate_channels", "_selected_action": [live.pk, dead.pk]},
        follow=True,
    )

    assert "1 channel deactivated." in response.content.decode()
    live.refresh_from_db()
    assert live.is_active is False
    assert LogEntry.objects.filter(object_id=str(live.pk), action_flag=CHANGE).exists()


# --- channel change / add pages -----------------------------------------------------------------
def test_identity_fields_are_read_only_on_the_change_page(client, admin_user):
    channel = ChannelFactory()
    client.force_login(admin_user)
    response = client.get(channel_url("change", channel.pk))
    data = form_data(response, "channel_form")

    form = response.context["adminform"].form
    for name in ("phone_number_id", "waba_id", "display_phone_number", "verified_name", "kind"):
        assert name not in form.fields

    data.update(phone_number_id="999", verified_name="Hijacked", display_name="Renamed")
    assert client.post(channel_url("change", channel.pk), data).status_code == 302
    channel.refresh_from_db()
    assert channel.display_name == "Renamed"
    assert channel.phone_number_id != "999"
    assert channel.verified_name != "Hijacked"


@pytest.mark.parametrize(("length", "saves"), [(255, True), (256, False)])
def test_display_name_up_to_255_characters_saves_and_256_is_a_form_error(
    client, admin_user, length, saves
):
    channel = ChannelFactory(display_name="Before")
    client.force_login(admin_user)
    name = "x" * length

    change = form_data(client.get(channel_url("change", channel.pk)), "channel_form")
    change["display_name"] = name
    changed = client.post(channel_url("change", channel.pk), change)
    add = form_data(client.get(channel_url("add")), "channel_form")
    add.update(display_name=name, phone_number_id="", new_access_token="tok")
    added = client.post(channel_url("add"), add)

    channel.refresh_from_db()
    if saves:
        assert changed.status_code == added.status_code == 302
        assert channel.display_name == name
        assert Channel.objects.filter(display_name=name).count() == 2
    else:
        for response in (changed, added):
            assert response.status_code == 200
            errors = response.context["adminform"].form.errors["display_name"]
            assert errors == ["Ensure this value has at most 255 characters (it has 256)."]
        assert channel.display_name == "Before"
        assert not Channel.objects.filter(display_name=name).exists()


def test_a_channel_added_by_hand_starts_with_the_default_settings(client, admin_user):
    client.force_login(admin_user)
    data = form_data(client.get(channel_url("add")), "channel_form")
    data.update(display_name="Hand-made", phone_number_id="12345", new_access_token="secret-1")

    assert client.post(channel_url("add"), data).status_code == 302
    channel = Channel.objects.get(display_name="Hand-made")
    assert channel.auto_resolve_new_after == timedelta(days=30)
    assert channel.auto_resolve_pending_after == timedelta(days=30)
    assert channel.access_token == "secret-1"
    # A blank phone number id is stored as NULL, so several hand-made channels can coexist.
    data.update(display_name="Second", phone_number_id="")
    assert client.post(channel_url("add"), data).status_code == 302
    data.update(display_name="Third")
    assert client.post(channel_url("add"), data).status_code == 302
    assert Channel.objects.filter(phone_number_id__isnull=True).count() == 2


def test_access_token_is_write_only_and_blank_keeps_the_stored_one(client, admin_user):
    channel = ChannelFactory(access_token="EAAG-old-secret-token")
    client.force_login(admin_user)

    page = client.get(channel_url("change", channel.pk))
    assert "EAAG-old-secret-token" not in page.content.decode()
    data = form_data(page, "channel_form")
    assert data["new_access_token"] == ""

    data["new_access_token"] = "EAAG-new-secret-token"
    assert client.post(channel_url("change", channel.pk), data).status_code == 302
    channel.refresh_from_db()
    assert channel.access_token == "EAAG-new-secret-token"
    after = client.get(channel_url("change", channel.pk)).content.decode()
    assert "EAAG-new-secret-token" not in after
    assert "set" in after  # the page says a token is stored, not what it is
    assert "EAAG-new-secret-token" not in LogEntry.objects.get().change_message

    data = form_data(client.get(channel_url("change", channel.pk)), "channel_form")
    data["display_name"] = "Renamed"
    assert client.post(channel_url("change", channel.pk), data).status_code == 302
    channel.refresh_from_db()
    assert channel.access_token == "EAAG-new-secret-token"


@pytest.mark.parametrize(
    ("amount", "unit", "off", "stored", "shown"),
    [
        ("45", "days", False, timedelta(days=45), "45 days"),
        ("1", "days", False, timedelta(days=1), "1 day"),
        ("12", "hours", False, timedelta(hours=12), "12 hours"),
        ("48", "hours", False, timedelta(days=2), "2 days"),
        ("365", "days", False, timedelta(days=365), "365 days"),
        ("8760", "hours", False, timedelta(days=365), "365 days"),
        ("", "days", True, None, "off"),
        ("", "days", False, None, "off"),
        # Ticking Off is enough: the number beside it need not be cleared (issue 13).
        ("10", "days", True, None, "off"),
        ("ten", "hours", True, None, "off"),
    ],
)
def test_auto_resolve_durations_round_trip_through_the_form(
    client, admin_user, amount, unit, off, stored, shown
):
    channel = ChannelFactory()
    client.force_login(admin_user)
    data = form_data(client.get(channel_url("change", channel.pk)), "channel_form")
    assert (data["auto_resolve_new_after_amount"], data["auto_resolve_new_after_unit"]) == (
        "30",
        "days",
    )
    data.update(auto_resolve_new_after_amount=amount, auto_resolve_new_after_unit=unit)
    data.pop("auto_resolve_new_after_off", None)
    if off:
        data["auto_resolve_new_after_off"] = "on"

    assert client.post(channel_url("change", channel.pk), data).status_code == 302
    channel.refresh_from_db()
    assert channel.auto_resolve_new_after == stored
    assert channel.auto_resolve_pending_after == timedelta(days=30)  # untouched

    again = form_data(client.get(channel_url("change", channel.pk)), "channel_form")
    if stored is None:
        assert again["auto_resolve_new_after_off"] == "on"
        assert again["auto_resolve_new_after_amount"] == ""
    else:
        assert "auto_resolve_new_after_off" not in again
        # Saving the page unchanged keeps the value exactly.
        assert client.post(channel_url("change", channel.pk), again).status_code == 302
        channel.refresh_from_db()
        assert channel.auto_resolve_new_after == stored
    row = client.get(channel_url("changelist")).context["cl"].result_list[0]
    assert ChannelAdmin(Channel, admin.site).auto_resolve_new(row) == shown


@pytest.mark.parametrize(
    ("amount", "unit", "off", "error"),
    [
        ("0", "days", False, "Enter a positive number of days or hours, or tick Off."),
        ("-3", "days", False, "Enter a positive number of days or hours, or tick Off."),
        ("366", "days", False, "At most 365 days (8760 hours)."),
        ("8761", "hours", False, "At most 365 days (8760 hours)."),
        ("ten", "days", False, "Enter a whole number."),
    ],
)
def test_bad_auto_resolve_durations_are_form_errors(client, admin_user, amount, unit, off, error):
    channel = ChannelFactory()
    client.force_login(admin_user)
    data = form_data(client.get(channel_url("change", channel.pk)), "channel_form")
    data.update(auto_resolve_pending_after_amount=amount, auto_resolve_pending_after_unit=unit)
    if off:
        data["auto_resolve_pending_after_off"] = "on"

    response = client.post(channel_url("change", channel.pk), data)

    assert response.status_code == 200
    assert error in response.context["adminform"].form.errors["auto_resolve_pending_after"]
    channel.refresh_from_db()
    assert channel.auto_resolve_pending_after == timedelta(days=30)


def test_sub_hour_durations_show_in_minutes_and_edit_as_whole_hours(db):
    channel = ChannelFactory(auto_resolve_new_after=timedelta(minutes=90))
    assert ChannelAdmin(Channel, admin.site).auto_resolve_new(channel) == "90 minutes"
    from channels_app.admin_forms import DurationWidget

    assert DurationWidget().decompress(timedelta(minutes=90)) == [2, "hours", False]


# --- grant inlines -------------------------------------------------------------------------------
def test_grants_are_added_changed_and_removed_through_the_inlines_and_logged(client, admin_user):
    channel = ChannelFactory()
    keep = GrantFactory(channel=channel, role=Role.VIEWER)
    drop = GrantFactory(channel=channel, role=Role.VIEWER)
    newcomer, team = UserFactory(), TeamFactory(name="Night shift")
    client.force_login(admin_user)
    data = form_data(client.get(channel_url("change", channel.pk)), "channel_form")
    rows = {data[f"{USERS}-{i}-id"]: i for i in range(int(data[f"{USERS}-TOTAL_FORMS"]))}
    data[f"{USERS}-{rows[str(keep.pk)]}-role"] = str(Role.SUPERVISOR.value)
    data[f"{USERS}-{rows[str(drop.pk)]}-DELETE"] = "on"
    add_inline_row(data, USERS, user=str(newcomer.pk), role=str(Role.CONTRIBUTOR.value))
    add_inline_row(data, TEAMS, team=str(team.pk), role=str(Role.VIEWER.value))

    assert client.post(channel_url("change", channel.pk), data).status_code == 302

    grants = {(g.user_id, g.team_id): g.role for g in channel.grants.all()}
    assert grants == {
        (keep.user_id, None): Role.SUPERVISOR,
        (newcomer.pk, None): Role.CONTRIBUTOR,
        (None, team.pk): Role.VIEWER,
    }
    message = LogEntry.objects.get(object_id=str(channel.pk)).get_change_message()
    assert "Added access grant" in message
    assert "Deleted access grant" in message
    assert "Changed Role for access grant" in message


def test_two_rows_for_the_same_user_in_one_submission_are_a_form_error(client, admin_user):
    channel = ChannelFactory()
    agent, team = UserFactory(), TeamFactory()
    client.force_login(admin_user)
    data = form_data(client.get(channel_url("change", channel.pk)), "channel_form")
    add_inline_row(data, USERS, user=str(agent.pk), role="10")
    add_inline_row(data, USERS, user=str(agent.pk), role="30")
    add_inline_row(data, TEAMS, team=str(team.pk), role="10")
    add_inline_row(data, TEAMS, team=str(team.pk), role="20")

    response = client.post(channel_url("change", channel.pk), data)

    assert response.status_code == 200
    formsets = {fs.formset.prefix: fs.formset for fs in response.context["inline_admin_formsets"]}
    assert formsets[USERS].forms[1].errors["user"] == [
        "This user already has a grant on this channel."
    ]
    assert formsets[TEAMS].forms[1].errors["team"] == [
        "This team already has a grant on this channel."
    ]
    assert not AccessGrant.objects.exists()


def test_a_second_grant_for_a_user_or_team_already_granted_is_a_form_error(client, admin_user):
    channel = ChannelFactory()
    granted = GrantFactory(channel=channel)
    team_grant = GrantFactory(channel=channel, user=None, team=TeamFactory())
    client.force_login(admin_user)
    data = form_data(client.get(channel_url("change", channel.pk)), "channel_form")
    add_inline_row(data, USERS, user=str(granted.user_id), role="30")
    add_inline_row(data, TEAMS, team=str(team_grant.team_id), role="30")

    response = client.post(channel_url("change", channel.pk), data)

    assert response.status_code == 200
    page = response.content.decode()
    assert "This user already has a grant on this channel." in page
    assert "This team already has a grant on this channel." in page
    assert channel.grants.count() == 2


def test_an_inline_row_without_a_user_is_a_form_error(client, admin_user):
    channel = ChannelFactory()
    client.force_login(admin_user)
    data = form_data(client.get(channel_url("change", channel.pk)), "channel_form")
    add_inline_row(data, USERS, user="", role="30")

    response = client.post(channel_url("change", channel.pk), data)

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not channel.grants.exists()


def test_grant_services_turn_every_constraint_into_a_validation_error(db, admin_user):
    channel, agent, team = ChannelFactory(), UserFactory(), TeamFactory()
    with pytest.raises(ValidationError, match="either a user or a team, not both"):
        services.grant_access(channel, actor=admin_user, role=Role.VIEWER, user=agent, team=team)
    with pytest.raises(ValidationError, match="either a user or a team, not both"):
        services.grant_access(channel, actor=admin_user, role=Role.VIEWER)
    services.grant_access(channel, actor=admin_user, role=Role.VIEWER, user=agent)
    with pytest.raises(ValidationError, match="This user already has a grant"):
        services.grant_access(channel, actor=admin_user, role=Role.SUPERVISOR, user=agent)
    with pytest.raises(ValidationError):
        services.grant_access(channel, actor=admin_user, role=Role.ADMIN, team=team)
    assert channel.grants.count() == 1


def test_grant_services_refuse_a_non_admin_actor(cast):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.grant_access(
            cast.channel, actor=cast.supervisor, role=Role.SUPERVISOR, user=cast.outsider
        )
    with pytest.raises(PermissionDenied):
        services.update_channel_settings(cast.channel, actor=cast.supervisor, auto_assign=False)
    assert not cast.channel.grants.filter(user=cast.outsider).exists()


# --- who may use these pages ---------------------------------------------------------------------
@pytest.mark.parametrize("persona", ["supervisor", "viewer", "outsider"])
def test_staff_agents_get_403_on_every_channel_page(client, cast, persona):
    user = getattr(cast, persona)
    user.is_staff = True
    user.save()
    client.force_login(user)

    for path in (
        channel_url("changelist"),
        channel_url("add"),
        channel_url("change", cast.channel.pk),
        channel_url("delete", cast.channel.pk),
        url(Team, "changelist"),
    ):
        assert client.get(path).status_code == 403, path
    assert client.post(channel_url("change", cast.channel.pk), {}).status_code == 403


def test_a_channel_admin_without_superuser_can_edit_settings_and_grants(client, channel_admin):
    channel = ChannelFactory(auto_assign=True)
    agent = UserFactory(username="ines_agent")
    client.force_login(channel_admin)

    page = client.get(channel_url("change", channel.pk))
    assert page.status_code == 200
    data = form_data(page, "channel_form")
    data.pop("auto_assign")
    add_inline_row(data, USERS, user=str(agent.pk), role=str(Role.CONTRIBUTOR.value))
    assert client.post(channel_url("change", channel.pk), data).status_code == 302
    channel.refresh_from_db()
    assert channel.auto_assign is False
    assert channel.grants.get().user == agent
    # Picking the user worked through the autocomplete, which needs the user admin's view right.
    picked = client.get(
        reverse("admin:autocomplete"),
        {"term": "ines", "app_label": "channels_app", "model_name": "accessgrant",
         "field_name": "user"},
    )
    assert picked.status_code == 200
    assert "ines_agent" in picked.content.decode()


# --- teams ---------------------------------------------------------------------------------------
def test_team_admin_counts_members_and_channels_in_constant_queries(
    client, admin_user, django_assert_num_queries
):
    client.force_login(admin_user)
    client.get(url(Team, "changelist"))
    team = TeamFactory(name="Early shift", members=[UserFactory(), UserFactory()])
    GrantFactory(channel=ChannelFactory(), user=None, team=team)
    with CaptureQueriesContext(connection) as first:
        page = client.get(url(Team, "changelist"))
    row = page.context["cl"].result_list[0]
    assert (row.member_total, row.channel_total) == (2, 1)
    for _ in range(8):
        TeamFactory(members=[UserFactory(), UserFactory(), UserFactory()])
    with django_assert_num_queries(len(first)):
        client.get(url(Team, "changelist"))


def test_team_members_are_saved_from_the_members_widget(client, admin_user):
    team = TeamFactory(members=[UserFactory()])
    newcomer = UserFactory()
    client.force_login(admin_user)
    data = form_data(client.get(url(Team, "change", team.pk)), "team_form")
    data["members"] = [str(newcomer.pk)]

    assert client.post(url(Team, "change", team.pk), data).status_code == 302
    assert list(team.members.all()) == [newcomer]


def test_a_duplicate_team_name_is_a_form_error(client, admin_user):
    TeamFactory(name="Night shift")
    client.force_login(admin_user)
    response = client.post(url(Team, "add"), {"name": "Night shift"})
    assert response.status_code == 200
    assert "Team with this Name already exists." in response.content.decode()
    assert Team.objects.count() == 1


# --- users ---------------------------------------------------------------------------------------
def test_user_page_shows_effective_roles_from_one_channel_query(client, admin_user):
    agent = UserFactory()
    direct, via_team, _ = ChannelFactory(display_name="Direct"), ChannelFactory(), ChannelFactory()
    via_team.display_name = SCRIPT
    via_team.save()
    GrantFactory(channel=direct, user=agent, role=Role.VIEWER)
    crew = TeamFactory(members=[agent])
    GrantFactory(channel=via_team, user=None, team=crew, role=Role.SUPERVISOR)
    client.force_login(admin_user)

    with CaptureQueriesContext(connection) as queries:
        page = client.get(url(type(agent), "change", agent.pk)).content.decode()

    channel_queries = [q for q in queries if 'FROM "channels_app_channel"' in q["sql"]]
    assert len(channel_queries) == 1
    assert "Direct</a></td><td>Viewer" in page
    assert f"{ESCAPED}</a></td><td>Supervisor" in page


def test_user_teams_and_time_zone_are_edited_on_the_user_page(client, admin_user):
    agent = UserFactory()
    old, new = TeamFactory(members=[agent]), TeamFactory()
    client.force_login(admin_user)
    data = form_data(client.get(url(type(agent), "change", agent.pk)), "user_form")
    data["teams"] = [str(new.pk)]
    data["desk_profile-0-time_zone"] = "Europe/Berlin"

    assert client.post(url(type(agent), "change", agent.pk), data).status_code == 302
    assert list(agent.desk_teams.all()) == [new]
    assert old.members.count() == 0
    assert Profile.objects.get(user=agent).time_zone == "Europe/Berlin"


def test_an_unknown_time_zone_is_a_form_error(client, admin_user):
    agent = UserFactory()
    client.force_login(admin_user)
    data = form_data(client.get(url(type(agent), "change", agent.pk)), "user_form")
    data["desk_profile-0-time_zone"] = "Mars/Olympus_Mons"

    response = client.post(url(type(agent), "change", agent.pk), data)

    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert not Profile.objects.filter(user=agent).exists()


def test_user_list_shows_teams_without_a_query_per_row(
    client, admin_user, django_assert_num_queries
):
    client.force_login(admin_user)
    client.get(url(type(admin_user), "changelist"))
    TeamFactory(members=[UserFactory(), UserFactory()])
    with CaptureQueriesContext(connection) as first:
        client.get(url(type(admin_user), "changelist"))
    TeamFactory(members=[UserFactory() for _ in range(6)])
    with django_assert_num_queries(len(first)):
        page = client.get(url(type(admin_user), "changelist"))
    assert "Team" in page.content.decode()



def test_the_admin_has_the_agent_pages_language_switcher(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'action="/i18n/setlang/"' in page and 'id="language-select"' in page
    assert '<option value="de">Deutsch</option>' in page
    assert '<input type="hidden" name="next" value="/admin/">' in page

    switched = client.post(reverse("set_language"), {"language": "de", "next": "/admin/"})
    assert switched.status_code == 302 and switched["Location"] == "/admin/"
    german = client.get(reverse("admin:index")).content.decode()
    assert '<html lang="de"' in german and "Abmelden" in german
    assert '<option value="de" selected>Deutsch</option>' in german
    # The login page offers it too, before anyone is logged in.
    client.logout()
    assert 'id="language-select"' in client.get(reverse("admin:login")).content.decode()
