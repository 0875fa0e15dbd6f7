"""The WhatsApp Cloud API: an HTTP client, webhook parsing and signatures, the window rule.

The local emulator of the API is a development tool: devtools/whatsapp_emulator/.

This package knows no Django app above it (conversations, onboarding); the webhook view that turns
parsed events into service calls lives in ``conversations.webhooks``. See docs/whatsapp.md.
"""
