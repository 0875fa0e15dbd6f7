"""The admin-only pages ask the access module, through one mixin (channels_app.admin_site
.AdminOnlyPermissions): Django's per-model permissions neither open nor close them."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from channels_app.admin_site import AdminOnlyPermissions
from tests.factories import UserFactory

ADMIN_ONLY = [
    "channels_app.Channel",
    "channels_app.Team",
    "channels_app.MessageTemplate",
    "conversations.Conversation",
    "conversations.Tag",
    "conversations.Topic",
    "onboarding.Onboarding",
    "replies.SavedReply",
]
REGISTRY = {model._meta.label: (model, ma) for model, ma in admin.site._registry.items()}


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.mark.parametrize("label", ADMIN_ONLY)
def test_admin_only_pages_take_their_permissions_from_the_one_mixin(label):
    model_admin = REGISTRY[label][1]
    assert isinstance(model_admin, AdminOnlyPermissions)
    # Nobody copies the block again: the module permission is the mixin's own.
    assert type(model_admin).has_module_permission is AdminOnlyPermissions.has_module_permission


@pytest.mark.django_db
@pytest.mark.parametrize("label", ADMIN_ONLY)
def test_staff_with_every_django_permission_of_the_model_but_no_admin_role_get_403(client, label):
    model = REGISTRY[label][0]
    user = UserFactory(username="django_perms_only", is_staff=True)
    user.user_permissions.set(
        # view/add/change/delete; not the Channel model's own "administer_channels" (the role).
        Permission.objects.filter(
            content_type=ContentType.objects.get_for_model(model)
        ).exclude(codename="administer_channels")
    )
    client.force_login(user)
    assert client.get(changelist(model)).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("label", ADMIN_ONLY)
def test_a_channel_administrator_without_model_permissions_opens_the_page(client, label):
    model = REGISTRY[label][0]
    user = UserFactory(username="pat_channel_admin", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="administer_channels"))
    client.force_login(user)
    assert client.get(changelist(model)).status_code == 200
