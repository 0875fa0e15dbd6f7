from django.urls import path

from conversations.webhooks import inbound_webhook, whatsapp_webhook

app_name = "webhooks"

# /webhooks/<kind>/: the transport of that medium (channels_app.transports); WhatsApp's path is
# Meta's contract (DESIGN.md), named on its own.
urlpatterns = [
    path("whatsapp/", whatsapp_webhook, name="whatsapp"),
    path("<slug:kind>/", inbound_webhook, name="inbound"),
]
