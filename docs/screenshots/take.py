"""Take the screenshots of the README's tour (docs/screenshots/*.png) in headless Chromium.

Against a throwaway database with the demo data, and the development server on it:

    export DATABASE_URL=sqlite:////tmp/tour.sqlite3
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_demo
    .venv/bin/python manage.py runserver 127.0.0.1:8000 &
    .venv/bin/python docs/screenshots/take.py --base http://127.0.0.1:8000

It first moves one demo conversation into the last minute of its 24-hour window (through the
ORM, on that same DATABASE_URL), then logs in as each persona and saves one PNG per shot.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "demo-desk-2026"  # noqa: S105 - the demo's printed password
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,HttpsFirstModeV2",
]
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

# (file, persona, language, viewport, page, full page?). A page "contact:Name" is the
# conversation of that demo contact; "+summary" opens the folded filters first.
SHOTS = [
    # First: prepare() gives this one less than a minute.
    ("window-closing-laptop-en.png", "carlos", "en", LAPTOP, "contact:Lukas", False),
    ("inbox-laptop-en.png", "sofia", "en", LAPTOP, "/inbox/", False),
    ("inbox-phone-de.png", "sofia", "de", PHONE, "/inbox/", False),
    ("inbox-phone-filters-en.png", "carlos", "en", PHONE, "/inbox/?assignee=me+summary", False),
    ("search-counts-phone-en.png", "sofia", "en", PHONE, "/inbox/?status=pending&q=tent", False),
    ("conversation-laptop-en.png", "carlos", "en", LAPTOP, "contact:Dana", False),
    ("conversation-phone-de.png", "carlos", "de", PHONE, "contact:Dana", False),
    ("conversation-viewer-phone-en.png", "vera", "en", PHONE, "contact:Dana", True),
    ("reports-laptop-en.png", "sofia", "en", LAPTOP, "/reports/", True),
    ("reports-phone-de.png", "sofia", "de", PHONE, "/reports/?range=30d", True),
    ("inbox-admin-laptop-de.png", "admin", "de", LAPTOP, "/inbox/?status=resolved", False),
]


def prepare() -> None:
    """Lukas Weber's conversation: the customer wrote 23 h 59 min 10 s ago, so the window is
    in its last minute (WHATSAPP_WINDOW_SAFETY_MARGIN) for the first shot."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.utils import timezone

    from conversations.models import Conversation, Message

    closing = timezone.now() - timedelta(hours=23, minutes=59, seconds=10)
    open_ones = Conversation.objects.filter(
        contact__profile_name="Lukas Weber", status__in=["new", "pending"]
    )
    open_ones.update(last_customer_message_at=closing)
    Message.objects.filter(conversation__in=open_ones, direction=Message.Direction.INBOUND).update(
        created_at=closing
    )


def take(base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        for name, user, language, viewport, target, full in SHOTS:
            context = browser.new_context(viewport=viewport, locale=language)
            page = context.new_page()
            page.goto(f"{base}/login/")
            page.fill("#id_username", user)
            page.fill("#id_password", PASSWORD)
            page.click("form button[type=submit].primary")
            page.wait_for_url(f"{base}/inbox/")
            path, _, action = target.partition("+")
            if path.startswith("contact:"):
                page.goto(f"{base}/inbox/?q={path.split(':', 1)[1]}")
                path = page.locator(".row-link").first.get_attribute("href")
            page.goto(base + path)
            if action == "summary":
                page.click("#filter-fold summary")
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            page.screenshot(path=str(out / name), full_page=full)
            width = viewport["width"]
            sys.stdout.write(f"{name}: {user}, {language}, {width} px, overflow {overflow} px\n")
            context.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--no-prepare", action="store_true", help="leave the data as it is")
    args = parser.parse_args()
    if not args.no_prepare:
        prepare()
    take(args.base.rstrip("/"), args.out)


if __name__ == "__main__":
    main()
