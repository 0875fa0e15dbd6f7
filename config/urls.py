from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

# The admin's titles and index order live on its site class: channels_app/admin_site.py.
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="conversations:inbox", permanent=False)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("saved-replies/", include("replies.urls")),
    path("reports/", include("conversations.report_urls")),
    path("webhooks/whatsapp/", include("conversations.webhook_urls")),
    path("", include("conversations.urls")),
]

if settings.DEBUG:  # pragma: no cover
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
