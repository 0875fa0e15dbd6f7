"""Who sees which saved reply, and the rules a saved reply must meet to be saved."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from channels_app.models import MessageTemplate
from replies import access, services
from replies.models import SavedReply
from tests.factories import SavedReplyFactory, TemplateFactory, UserFactory


def _visible(user):
    return set(access.replies_visible_to(user).values_list("shortcut", flat=True))


def test_each_scope_is_seen_by_its_audience_only(cast, replies):
    # Personal: the owner. Team: members. Global: everyone with access to some channel.
    assert _visible(cast.contributor) == {"thanks", "hello"}
    assert _visible(cast.supervisor) == {"private", "hello"}
    assert _visible(cast.team_contributor) == {"night", "hello"}
    assert _visible(cast.viewer) == {"hello"}


def test_a_user_without_any_channel_sees_no_global_reply(cast, replies):
    assert _visible(cast.outsider) == set()
    cast.team.members.add(cast.outsider)  # a team without a grant gives no channel access...
    cast.team.channel_grants.all().delete()
    assert _visible(cast.outsider) == {"night"}  # ...but its replies are the team's


def test_admins_see_global_replies_but_not_other_users_personal_ones(cast, replies):
    assert _visible(cast.admin) == {"hello"}


def test_another_users_personal_reply_does_not_exist_for_them(cast, replies):
    with pytest.raises(Http404):
        access.saved_reply_for(cast.contributor, replies.theirs.pk)
    with pytest.raises(Http404):
        access.own_reply_for(cast.contributor, replies.theirs.pk)
    with pytest.raises(Http404):
        access.saved_reply_for(cast.contributor, "not-a-number")


def test_a_visible_team_reply_cannot_be_changed_by_a_member(cast, replies):
    with pytest.raises(PermissionDenied):
        access.own_reply_for(cast.team_contributor, replies.team.pk)
    with pytest.raises(PermissionDenied):
        services.delete_saved_reply(replies.team, actor=cast.team_contributor)
    services.delete_saved_reply(replies.team, actor=cast.admin)
    assert not SavedReply.objects.filter(pk=replies.team.pk).exists()


def test_only_repliers_may_use_saved_replies(cast):
    access.require_replier(cast.contributor)
    access.require_replier(cast.admin)
    for user in (cast.viewer, cast.outsider):
        with pytest.raises(PermissionDenied):
            access.require_replier(user)


def _personal(owner, **fields):
    values = {"title": "Refund", "shortcut": "refund", "body": "Hi {{contact.first_name|there}}"}
    values.update(fields)
    return SavedReply(scope=SavedReply.Scope.PERSONAL, owner=owner, **values)


def test_an_unknown_placeholder_is_refused_on_save(cast):
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            _personal(cast.contributor, body="Hi {{customer.name}}"), actor=cast.contributor
        )
    assert list(raised.value.message_dict) == ["body"]
    assert raised.value.message_dict["body"][0].startswith("Unknown placeholder")
    assert not SavedReply.objects.exists()


def test_a_shortcut_is_unique_within_its_scope_only(cast, replies):
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            _personal(cast.contributor, shortcut="thanks"), actor=cast.contributor
        )
    assert raised.value.message_dict == {
        "shortcut": ["You already have a saved reply with this shortcut."]
    }
    # The same shortcut is free for another owner, and beside a global one of the same name.
    services.save_saved_reply(_personal(cast.viewer, shortcut="thanks"), actor=cast.viewer)
    services.save_saved_reply(_personal(cast.contributor, shortcut="hello"), actor=cast.contributor)
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            SavedReply(scope="global", title="Again", shortcut="hello", body="x"),
            actor=cast.admin,
        )
    assert raised.value.message_dict == {
        "shortcut": ["A global saved reply already has this shortcut."]
    }


@pytest.mark.parametrize("shortcut", ["has space", "/slash", "Caps", "-dash-first", ""])
def test_a_shortcut_must_be_slug_like(cast, shortcut):
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            _personal(cast.contributor, shortcut=shortcut), actor=cast.contributor
        )
    assert "shortcut" in raised.value.message_dict


def test_scope_owner_and_team_must_agree(cast):
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            SavedReply(scope="team", title="T", shortcut="t", body="x"), actor=cast.admin
        )
    assert raised.value.message_dict == {"team": ["Pick the team this saved reply is for."]}
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            SavedReply(scope="global", team=cast.team, title="G", shortcut="g", body="x"),
            actor=cast.admin,
        )
    assert list(raised.value.message_dict) == ["team"]


def test_only_admins_save_team_and_global_replies_and_only_owners_personal_ones(cast):
    with pytest.raises(PermissionDenied):
        services.save_saved_reply(
            SavedReply(scope="global", title="G", shortcut="g", body="x"),
            actor=cast.supervisor,
        )
    with pytest.raises(PermissionDenied):
        services.save_saved_reply(_personal(cast.contributor), actor=cast.admin)
    stranger = UserFactory()
    mine = services.save_saved_reply(_personal(cast.contributor), actor=cast.contributor)
    mine.title = "Hijacked"
    with pytest.raises(PermissionDenied):
        services.save_saved_reply(mine, actor=stranger)


def test_a_linked_template_must_be_approved_and_its_parameters_fit(cast):
    approved = TemplateFactory(channel=cast.channel)  # two parameters
    paused = TemplateFactory(channel=cast.channel, status=MessageTemplate.Status.PAUSED)
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            _personal(cast.contributor, template=paused), actor=cast.contributor
        )
    assert raised.value.message_dict["template"][0].startswith("“order_update_")
    assert "is not approved (Paused)" in raised.value.message_dict["template"][0]
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            _personal(cast.contributor, template=approved, template_params="a\nb\nc"),
            actor=cast.contributor,
        )
    assert raised.value.message_dict == {
        "template_params": ["The template has 2 parameter(s), but 3 lines were given."]
    }
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            _personal(cast.contributor, template_params="{{contact.first_name}}"),
            actor=cast.contributor,
        )
    assert list(raised.value.message_dict) == ["template_params"]
    saved = services.save_saved_reply(
        _personal(cast.contributor, template=approved, template_params="{{contact.first_name}}"),
        actor=cast.contributor,
    )
    assert saved.template == approved


def test_a_personal_reply_links_only_templates_of_channels_the_owner_replies_on(cast):
    elsewhere = TemplateFactory(channel=cast.other_channel)
    with pytest.raises(ValidationError) as raised:
        services.save_saved_reply(
            _personal(cast.contributor, template=elsewhere), actor=cast.contributor
        )
    assert raised.value.message_dict == {
        "template": ["You cannot send templates on that template's channel."]
    }


def test_a_template_paused_later_keeps_its_link_on_the_next_edit(cast):
    template = TemplateFactory(channel=cast.channel)
    reply = SavedReplyFactory(
        scope="personal", owner=cast.contributor, shortcut="late", template=template
    )
    MessageTemplate.objects.filter(pk=template.pk).update(status=MessageTemplate.Status.PAUSED)
    reply.refresh_from_db()
    reply.title = "Renamed"
    services.save_saved_reply(reply, actor=cast.contributor)
    reply.refresh_from_db()
    assert (reply.title, reply.template_id) == ("Renamed", template.pk)
