"""Placeholder rendering and validation of saved replies (pure functions, no database)."""

from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from replies import placeholders
from replies.placeholders import PlaceholderValues


def _agent(first="Carla", last="Contributor", username="carla"):
    return SimpleNamespace(
        first_name=first,
        get_full_name=lambda: f"{first} {last}".strip(),
        get_username=lambda: username,
    )


def _conversation(name="Dana Kim", channel="Acme Support"):
    return SimpleNamespace(
        contact=SimpleNamespace(profile_name=name), channel=SimpleNamespace(display_name=channel)
    )


def test_every_placeholder_is_filled_from_the_conversation_and_the_agent():
    values = PlaceholderValues.of(agent=_agent(), conversation=_conversation())
    text = (
        "{{contact.first_name}} / {{contact.name}} / {{agent.first_name}} / {{agent.name}} / "
        "{{channel.name}}"
    )
    assert placeholders.render(text, values) == (
        "Dana / Dana Kim / Carla / Carla Contributor / Acme Support"
    )


def test_an_unknown_value_uses_the_fallback_and_spaces_inside_braces_are_allowed():
    values = PlaceholderValues.of(agent=_agent(first=""), conversation=_conversation(name=""))
    text = "Hi {{ contact.first_name | there }}, {{agent.first_name|the team}} here."
    assert placeholders.render(text, values) == "Hi there, the team here."


def test_an_unknown_value_without_fallback_renders_as_nothing():
    values = PlaceholderValues.of(agent=None, conversation=None)
    assert placeholders.render("Hi {{contact.first_name}}!", values) == "Hi !"


def test_agent_name_falls_back_to_the_username():
    values = PlaceholderValues.of(agent=_agent(first="", last="", username="nina"))
    assert placeholders.render("{{agent.name}}", values) == "nina"


def test_user_text_is_never_a_django_template():
    values = PlaceholderValues.of(agent=_agent(), conversation=_conversation())
    text = "{% if 1 %}x{% endif %} {{ request.user }} 100% {# c #} {{contact.name}}"
    assert placeholders.problems("{% if 1 %}x{% endif %} 100% {{contact.name}}") == []
    rendered = placeholders.render(text, values)
    assert rendered == "{% if 1 %}x{% endif %} {{ request.user }} 100% {# c #} Dana Kim"


def test_unknown_placeholders_are_named_in_the_error():
    with pytest.raises(ValidationError) as raised:
        placeholders.validate("Hi {{contact.email}} and {{ order.id|n/a }}")
    messages = raised.value.messages
    assert len(messages) == 2
    assert messages[0].startswith("Unknown placeholder “{{contact.email}}”. Use one of:")
    assert "{{contact.first_name}}" in messages[0]
    assert "“{{ order.id|n/a }}”" in messages[1]


def test_an_unclosed_placeholder_is_an_error():
    assert placeholders.problems("Hi {{contact.first_name") == [
        "“{{contact.first_name” is not a complete placeholder: write {{name}} or "
        "{{name|fallback}}."
    ]


def test_known_placeholders_with_fallbacks_are_valid():
    placeholders.validate("Hallo {{contact.first_name|zusammen}}, {{agent.first_name}} hier.")
