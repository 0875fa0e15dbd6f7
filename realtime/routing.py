"""The websocket URLs (config/asgi.py mounts them)."""

from django.urls import path

from realtime.consumers import DeskConsumer

websocket_urlpatterns = [path("ws/desk/", DeskConsumer.as_asgi())]
