import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# After setup: production without FIELD_ENCRYPTION_KEYS does not start (docs/security.md).
from channels_app.encryption import require_production_keys  # noqa: E402

require_production_keys()
