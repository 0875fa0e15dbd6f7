"""Properties: correctly signed but arbitrary or mutated payloads never cause a 500, and a refused
payload (a broken envelope) writes nothing; a message mutated in any way never costs the good
message batched beside it (issue 21: per-message isolation)."""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.models import Channel, MessageTemplate
from conversations.models import Contact, Conversation, Event, Message
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory
from tests.whatsapp.conftest import FIXTURES, post_signed

FIXTURE_PAYLOADS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _set(root, path, value):
    node = root
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _delete(root, path):
    node = root
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


@st.composite
def mutated_payloads(draw):
    payload = copy.deepcopy(draw(st.sampled_from(FIXTURE_PAYLOADS)))
    # Batch a second event into the same change half of the time (mutations may hit either).
    if draw(st.booleans()):
        value = payload["entry"][0]["changes"][0]["value"]
        extra = copy.deepcopy(draw(st.sampled_from(FIXTURE_PAYLOADS)))
        extra_value = extra["entry"][0]["changes"][0]["value"]
        for key in ("messages", "statuses"):
            if isinstance(value.get(key), list) and isinstance(extra_value.get(key), list):
                value[key] = value[key] + extra_value[key]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(payload) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        if draw(st.booleans()):
            _set(payload, path, draw(json_values))
        elif isinstance(path[-1], str):
            _delete(payload, path)
    return json.dumps(payload, allow_nan=True).encode()


bodies = st.one_of(
    mutated_payloads(),
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
)


def _counts():
    return (
        Message.objects.count(),
        Conversation.objects.count(),
        Contact.objects.count(),
        Event.objects.count(),
        list(Message.objects.order_by("pk").values_list("delivery", "provider_message_id")),
        list(MessageTemplate.objects.values_list("status", flat=True)),
    )


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies)
def test_signed_garbage_never_500s_and_a_refusal_writes_nothing(client, body):
    channel = ChannelFactory.build()  # unsaved: only to read the fixtures' number
    channel, _ = type(channel).objects.get_or_create(
        phone_number_id="109876543210987",
        defaults={"display_name": "Acme", "waba_id": "104455667788990"},
    )
    if not Message.objects.filter(provider_message_id="wamid.OUT1").exists():
        MessageFactory(
            conversation=ConversationFactory(channel=channel),
            direction="out",
            provider_message_id="wamid.OUT1",
            delivery="sent",
        )
    before = _counts()
    response = post_signed(client, body)
    assert response.status_code in (200, 400, 409), response.content
    if response.status_code != 200:
        assert _counts() == before


GOOD = {
    "from": "15555550123",
    "id": "wamid.GOOD-NEIGHBOUR",
    "timestamp": "1767225600",
    "type": "text",
    "text": {"body": "the message beside the odd one"},
}
MESSAGE_FIXTURES = [
    p for p in FIXTURE_PAYLOADS if p["entry"][0]["changes"][0]["value"].get("messages")
]


@st.composite
def odd_message_batches(draw):
    """A fixture's message mutated at any path inside it, then a good message in the same list."""
    payload = copy.deepcopy(draw(st.sampled_from(MESSAGE_FIXTURES)))
    value = payload["entry"][0]["changes"][0]["value"]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(value["messages"][0]) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        if draw(st.booleans()) or not isinstance(path[-1], str):
            _set(value["messages"][0], path, draw(json_values))
        else:
            _delete(value["messages"][0], path)
    value["messages"].append(GOOD)
    return json.dumps(payload, allow_nan=True).encode()


@pytest.mark.django_db
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=odd_message_batches())
def test_an_odd_message_never_costs_the_good_one_beside_it(client, body):
    Channel.objects.get_or_create(
        phone_number_id="109876543210987",
        defaults={"display_name": "Acme", "waba_id": "104455667788990"},
    )
    response = post_signed(client, body)
    assert response.status_code == 200, response.content
    good = Message.objects.filter(provider_message_id=GOOD["id"])
    assert good.count() == 1
    assert good.get().body == GOOD["text"]["body"]
