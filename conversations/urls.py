from django.urls import path

from conversations import media_views, views

app_name = "conversations"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("conversations/<int:pk>/", views.detail, name="detail"),
    path("conversations/<int:pk>/reply/", views.reply, name="reply"),
    path("conversations/<int:pk>/template/", views.send_template, name="send_template"),
    path("conversations/<int:pk>/move/", views.move, name="move"),
    path(
        "conversations/<int:pk>/messages/<int:message_id>/retry/", views.retry, name="retry"
    ),
    path("conversations/<int:pk>/assign/", views.assign, name="assign"),
    path("conversations/<int:pk>/tag/", views.tag, name="tag"),
    path("conversations/<int:pk>/topic/", views.topic, name="topic"),
    path("conversations/<int:pk>/note/", views.note, name="note"),
    path(
        "conversations/<int:pk>/messages/<int:message_id>/attachment/",
        media_views.attachment,
        name="attachment",
    ),
]
