from django.urls import path

from conversations import report_views

app_name = "reports"

urlpatterns = [
    path("", report_views.index, name="index"),
]
