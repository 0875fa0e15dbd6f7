"""The API's request and response shapes (pydantic, through django-ninja); the OpenAPI document
is generated from them, so it cannot drift from what the views accept and answer."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema
from pydantic import AnyHttpUrl, field_validator

from api.models import WebhookSubscription


class Error(Schema):
    detail: str = Field(description="Why the request was refused, in words.")


class ChannelOut(Schema):
    id: int
    name: str
    phone: str = Field(description="The channel's display phone number.")


class TemplateOut(Schema):
    name: str
    language: str
    category: str
    status: str
    parameters: int = Field(description="How many {{n}} parameters the body needs.")


class TemplateSendIn(Schema):
    channel_id: int = Field(description="A channel in the token's scope.", gt=0)
    to: str = Field(
        description="The customer's phone number, international: +4915112345678.",
        min_length=4,
        max_length=32,
    )
    template: str = Field(description="The approved template's name.", min_length=1,
                          max_length=512)  # fmt: skip
    language: str | None = Field(
        None, description="The template's language code, when it exists in several.",
        max_length=16,
    )  # fmt: skip
    params: list[str] = Field(
        default_factory=list,
        description="The body's parameters in order ({{1}}, {{2}}, …).",
        max_length=20,
    )


class TemplateSendOut(Schema):
    message_id: int
    conversation_id: int
    conversation_status: str
    conversation_created: bool = Field(description="Whether this send opened a conversation.")
    contact_id: int
    delivery: str = Field(description="'queued': it is sent by a worker right after.")


class ContactOut(Schema):
    id: int
    wa_id: str | None
    phone: str
    name: str


class ConversationOut(Schema):
    id: int
    channel_id: int
    status: str
    resolution: str | None
    assignee_id: int | None
    opened_at: datetime | None
    resolved_at: datetime | None
    last_activity_at: datetime | None
    contact: ContactOut


class MessageOut(Schema):
    id: int
    conversation_id: int
    channel_id: int
    direction: str = Field(description="'in' from the customer, 'out' to them.")
    type: str
    body: str
    template: str | None
    delivery: str
    failure_reason: str | None
    created_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None


class MessagePage(Schema):
    messages: list[MessageOut] = Field(description="Oldest first.")
    next_before_id: int | None = Field(
        description="Pass as before_id for the page of older messages; null when none."
    )


EVENT_TYPES = [value for value, _label in WebhookSubscription.EventType.choices]


class WebhookIn(Schema):
    url: AnyHttpUrl = Field(description="Where the desk POSTs the events.")
    events: list[str] = Field(
        default_factory=list,
        description=f"Any of {', '.join(EVENT_TYPES)}; empty means all.",
    )

    @field_validator("events")
    @classmethod
    def known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown events: {', '.join(unknown)}")
        return sorted(set(value))


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    is_active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery; shown only in this answer.")
