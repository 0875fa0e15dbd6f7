"""manage.py of the peer site; run with the peer's virtualenv from bench/:

PEER_DATABASE_URL=... peer/venv/bin/python peer_helpdesk/manage.py migrate
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # The package is imported as `peer_helpdesk`, so its parent (bench/) goes on the path.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_helpdesk.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
