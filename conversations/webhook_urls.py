from django.urls import path

from conversations.webhooks import whatsapp_webhook

app_name = "webhooks"

urlpatterns = [
    path("", whatsapp_webhook, name="whatsapp"),
]
