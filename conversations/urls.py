from django.urls import path

from conversations import views

app_name = "conversations"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
]
