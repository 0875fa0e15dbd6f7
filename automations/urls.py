from django.urls import path

from automations import views

app_name = "automations"
urlpatterns = [
    path("conversations/<int:pk>/marketing-consent/", views.consent, name="consent"),
]
