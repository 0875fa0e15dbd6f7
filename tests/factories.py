"""Every factory of the test suite, in one module."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from channels_app.access import Role
from channels_app.models import AccessGrant, Channel, MessageTemplate, Team
from conversations.models import Contact, Conversation, Event, Message, Note, Tag, Topic


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"agent{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")
    is_staff = False


class AdminUserFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    display_name = factory.Sequence(lambda n: f"Support line {n}")
    phone_number_id = factory.Sequence(lambda n: f"1098765432{n:05d}")
    waba_id = "104455667788990"
    display_phone_number = factory.Sequence(lambda n: f"+1 555-010-{n % 10000:04d}")
    verified_name = "Acme Outdoor Supply"
    access_token = "test-token"


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Team {n}")

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            self.members.add(*extracted)


class GrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessGrant

    channel = factory.SubFactory(ChannelFactory)
    user = factory.SubFactory(UserFactory)
    team = None
    role = Role.CONTRIBUTOR


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate

    channel = factory.SubFactory(ChannelFactory)
    provider_id = factory.Sequence(lambda n: str(778899001122000 + n))
    name = factory.Sequence(lambda n: f"order_update_{n}")
    language = "en_US"
    category = MessageTemplate.Category.UTILITY
    status = MessageTemplate.Status.APPROVED
    components = factory.LazyFunction(
        lambda: [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has an update."}]
    )


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    wa_id = factory.Sequence(lambda n: f"1555555{n:04d}")
    profile_name = factory.Faker("name")
    phone = factory.LazyAttribute(lambda c: f"+{c.wa_id}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Topic {n}")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    channel = factory.SubFactory(ChannelFactory)
    contact = factory.SubFactory(ContactFactory)
    status = Conversation.Status.NEW
    opened_at = factory.LazyFunction(timezone.now)
    last_customer_message_at = factory.LazyAttribute(lambda c: c.opened_at)
    last_activity_at = factory.LazyAttribute(lambda c: c.opened_at)


def _opened_no_later_than(row):
    """As every writer keeps it (docs/partitions.md): nothing of a conversation is older than its
    opening, the bound the conversation page prunes the month partitions with. A test that
    writes a message or event before its conversation's ``opened_at`` opens it earlier."""
    conversation = row.conversation
    if row.created_at < conversation.opened_at:
        Conversation.objects.filter(pk=conversation.pk).update(opened_at=row.created_at)
        conversation.opened_at = row.created_at
    return row


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return _opened_no_later_than(super()._create(model_class, *args, **kwargs))

    conversation = factory.SubFactory(ConversationFactory)
    channel = factory.LazyAttribute(lambda m: m.conversation.channel)
    direction = Message.Direction.INBOUND
    type = Message.Type.TEXT
    body = factory.Faker("sentence")
    provider_message_id = factory.Sequence(lambda n: f"wamid.TEST{n:012d}")
    delivery = factory.LazyAttribute(
        lambda m: Message.Delivery.RECEIVED
        if m.direction == Message.Direction.INBOUND
        else Message.Delivery.SENT
    )
    created_at = factory.LazyFunction(timezone.now)
    sent_at = factory.LazyAttribute(lambda m: m.created_at)


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    conversation = factory.SubFactory(ConversationFactory)
    author = factory.SubFactory(UserFactory)
    body = factory.Faker("sentence")
    created_at = factory.LazyFunction(timezone.now)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return _opened_no_later_than(super()._create(model_class, *args, **kwargs))

    conversation = factory.SubFactory(ConversationFactory)
    kind = Event.Kind.STATUS_CHANGED
    actor = None
    data = factory.LazyFunction(dict)
    created_at = factory.LazyFunction(timezone.now)


def days_ago(days: float, *, now=None):
    return (now or timezone.now()) - timedelta(days=days)


class ProfileFactory(factory.django.DjangoModelFactory):
    """A user's preferences; the reports tests use it to set a time zone."""

    class Meta:
        model = "channels_app.Profile"
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory)
    time_zone = "UTC"


# --- onboarding (tests/onboarding) ----------------------------------------------------------------
class OnboardingFactory(factory.django.DjangoModelFactory):
    """An onboarding with its ten steps, made through onboarding.services.create_onboarding."""

    class Meta:
        model = "onboarding.Onboarding"

    phone_number = factory.Sequence(lambda n: f"+49151234{n % 100000:05d}")
    business_manager_id = factory.Sequence(lambda n: f"23294178874{n % 100000:05d}")
    display_name = factory.Sequence(lambda n: f"Acme Outdoor {n}")
    code_method = None
    access_token = "onboarding-token"
    actor = None
    created_at = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from onboarding import services

        now = kwargs.pop("created_at", None)
        return services.create_onboarding(now=now, **kwargs)


# --- channels admin (tests/channels_app) ----
class GroupFactory(factory.django.DjangoModelFactory):
    """A Django auth group; the admin smoke test opens one group's change page."""

    class Meta:
        model = "auth.Group"
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Group {n}")


# --- saved replies (tests/replies) ----------------------------------------------------------------
class SavedReplyFactory(factory.django.DjangoModelFactory):
    """A global saved reply unless told otherwise (scope personal needs an owner, team a team)."""

    class Meta:
        model = "replies.SavedReply"

    title = factory.Sequence(lambda n: f"Saved reply {n}")
    shortcut = factory.Sequence(lambda n: f"reply-{n}")
    body = "Hi {{contact.first_name|there}}, thanks for writing to {{channel.name}}."
    scope = "global"
    owner = None
    team = None


# --- login throttling (django-axes) ---------------------------------------------------------------
class AccessAttemptFactory(factory.django.DjangoModelFactory):
    """Failed logins for one username from one address (locked out at AXES_FAILURE_LIMIT)."""

    class Meta:
        model = "axes.AccessAttempt"

    username = factory.Sequence(lambda n: f"guessed-{n}")
    ip_address = "203.0.113.9"
    user_agent = "curl/8.0"
    http_accept = "*/*"
    path_info = "/login/"
    get_data = ""
    post_data = "username=********"
    failures_since_start = 10
    attempt_time = factory.LazyFunction(timezone.now)


class AccessLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "axes.AccessLog"

    username = factory.Sequence(lambda n: f"agent-{n}")
    ip_address = "203.0.113.9"
    user_agent = "curl/8.0"
    http_accept = "*/*"
    path_info = "/login/"
    attempt_time = factory.LazyFunction(timezone.now)


class AccessFailureLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "axes.AccessFailureLog"

    username = factory.Sequence(lambda n: f"guessed-{n}")
    ip_address = "203.0.113.9"
    user_agent = "curl/8.0"
    http_accept = "*/*"
    path_info = "/login/"
    attempt_time = factory.LazyFunction(timezone.now)
    locked_out = False
