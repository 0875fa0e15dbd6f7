"""The WhatsApp Cloud API: an HTTP client, webhook parsing and signatures, and a local emulator.

This package knows no Django app above it (conversations, onboarding); the webhook view that turns
parsed events into service calls lives in ``conversations.webhooks``. See docs/whatsapp.md.
"""
