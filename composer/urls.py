from django.urls import path

from composer import views

app_name = "composer"

# Under conversations/ (config/urls.py): a reaction sits beside a message's attachment and retry.
urlpatterns = [
    path("<int:pk>/compose/attach/", views.attach, name="attach"),
    path("<int:pk>/compose/voice/", views.voice_note, name="voice"),
    path("<int:pk>/messages/<int:message_id>/react/", views.react, name="react"),
    path("<int:pk>/compose/buttons/", views.buttons, name="buttons"),
    path("<int:pk>/compose/list/", views.list_message, name="list"),
    path("<int:pk>/compose/location/", views.location, name="location"),
    path("<int:pk>/compose/contact/", views.contact, name="contact"),
    path("<int:pk>/compose/seen/", views.seen, name="seen"),
    path("<int:pk>/compose/typing/", views.typing, name="typing"),
]
