"""Admin for WhatsApp message templates (owned by the WhatsApp integration)."""
