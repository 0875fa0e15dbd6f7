import zoneinfo

from django.utils import timezone

from channels_app.models import Profile


class UserTimezoneMiddleware:
    """Show times in the signed-in user's own time zone (their profile), UTC otherwise."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tz = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            name = request.session.get("desk_tz")
            if name is None:
                profile = Profile.objects.filter(user=user).only("time_zone").first()
                name = profile.time_zone if profile else "UTC"
                request.session["desk_tz"] = name
            try:
                tz = zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                tz = None
        if tz is not None:
            timezone.activate(tz)
        else:
            timezone.deactivate()
        return self.get_response(request)
