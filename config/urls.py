from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from api.views import api
from channels_app.login_throttle import DeskAuthenticationForm

# The admin's titles and index order live on its site class: channels_app/admin_site.py.
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="conversations:inbox", permanent=False)),
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=DeskAuthenticationForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),  # the proactive messaging API (docs/api.md)
    path("reports/", include("reports.urls")),
    path("saved-replies/", include("replies.urls")),
    path("automations/", include("automations.urls")),  # marketing consent (docs/automations.md)
    path("conversations/", include("composer.urls")),  # the composer's tools (docs/composer.md)
    path("webhooks/", include("conversations.webhook_urls")),  # one path per medium
    path("", include("realtime.urls")),
    path("", include("routing.urls")),  # availability, /monitor/, snooze (docs/routing.md)
    path("", include("conversations.urls")),
]

# MEDIA_URL is never served, not even with DEBUG: customer attachments only go out through the
# access-checked conversations:attachment view (docs/security.md, item 8).
