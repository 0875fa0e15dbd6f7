"""Every state change of a conversation goes through a function of this package.

Each one takes the subject positionally and everything else by keyword, checks the capability
through channels_app.access, runs in one transaction, and writes an Event in it. Side effects
(sending to the provider) leave only after commit. See docs/conversation-lifecycle.md and the
package's map in docs/architecture.md.

    events           DomainError and its kinds, the refusal texts, record_event, shared helpers
    inbound          customers' messages in (ORM path; inbound_sql is the one-statement path)
    inbound_events   the webhook's events (messages, statuses, edits, ...) applied in order
    inbound_changes  contact and conversation changes an inbound event implies
    inbound_payloads stored webhook payloads applied by the worker
    message_changes  edits, revocations and parked changes of messages
    outbound         reply, send_template, dispatch to the provider, retry, the sweep
    proactive        the desk writes first: a template to a phone number (the messaging API)
    delivery         delivery states from status callbacks; the first response
    lifecycle        status moves, assignment, tags, topics, notes
    autoresolve      the periodic auto-resolve batches

Callers use the package: ``from conversations import services; services.reply(...)``.
"""

from conversations.services.composing import (
    Attachment,
    react,
    send_attachments,
    send_structured,
)
from conversations.services.events import (
    ANOTHER_OPEN,
    ASSIGN_RESOLVED,
    ASSIGNEE_NO_ACCESS,
    EMPTY_NOTE,
    EMPTY_REPLY,
    MAX_NOTE_LENGTH,
    MAX_REPLY_LENGTH,
    NOTE_TOO_LONG,
    PLACEHOLDER,
    PREVIEW_LENGTH,
    REPLY_ON_RESOLVED,
    REPLY_TOO_LONG,
    TEMPLATE_NOT_SENDABLE,
    TEMPLATE_PARAMS,
    UNKNOWN_STATUS,
    WINDOW_CLOSED,
    AssigneeNotAllowed,
    DomainError,
    Status,
    WindowClosed,
    record_event,
)
from conversations.services.inbound import (
    INBOUND_ATTEMPTS,
    receive_inbound,
    receive_inbound_at_number,
)
from conversations.services.lifecycle import (
    add_note,
    add_tag,
    add_topic,
    assign,
    move_conversation,
    remove_tag,
    remove_topic,
    resolve_survey_answers,
    unassign,
)
from conversations.services.outbound import (
    render_template,
    reply,
    send_template,
    template_placeholder_count,
)
from conversations.services.proactive import ProactiveSend, send_template_to_number
from conversations.services.system_messages import send_system_message

__all__ = [
    "ANOTHER_OPEN",
    "ASSIGNEE_NO_ACCESS",
    "ASSIGN_RESOLVED",
    "EMPTY_NOTE",
    "EMPTY_REPLY",
    "INBOUND_ATTEMPTS",
    "MAX_NOTE_LENGTH",
    "MAX_REPLY_LENGTH",
    "NOTE_TOO_LONG",
    "PLACEHOLDER",
    "PREVIEW_LENGTH",
    "REPLY_ON_RESOLVED",
    "REPLY_TOO_LONG",
    "TEMPLATE_NOT_SENDABLE",
    "TEMPLATE_PARAMS",
    "UNKNOWN_STATUS",
    "WINDOW_CLOSED",
    "AssigneeNotAllowed",
    "Attachment",
    "DomainError",
    "ProactiveSend",
    "Status",
    "WindowClosed",
    "add_note",
    "add_tag",
    "add_topic",
    "assign",
    "move_conversation",
    "react",
    "receive_inbound",
    "receive_inbound_at_number",
    "record_event",
    "remove_tag",
    "remove_topic",
    "render_template",
    "reply",
    "resolve_survey_answers",
    "send_attachments",
    "send_structured",
    "send_system_message",
    "send_template",
    "send_template_to_number",
    "template_placeholder_count",
    "unassign",
]
