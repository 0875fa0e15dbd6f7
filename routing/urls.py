from django.urls import path

from routing import views

app_name = "routing"

urlpatterns = [
    path("availability/", views.availability, name="availability"),
    path("monitor/", views.monitor_page, name="monitor"),
    path("conversations/<int:pk>/snooze/", views.snooze, name="snooze"),
]
