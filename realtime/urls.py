from django.urls import path

from realtime import views

app_name = "realtime"

urlpatterns = [
    path("live/read/<int:pk>/", views.read, name="read"),
    path("live/bulk/", views.bulk_action, name="bulk"),
]
