"""Saved replies of every scope around the cast (tests/conftest.py)."""

from types import SimpleNamespace

import pytest

# The browser tests' Chromium and their stand-in for the send task (tests/conversations).
from tests.conversations.test_browser import browser, no_dispatch  # noqa: F401
from tests.factories import SavedReplyFactory, TeamFactory


@pytest.fixture
def replies(cast):
    """One reply per scope: the contributor's personal one, a second user's personal one, the
    Night shift team's (tom_team is a member), another team's, and a global one."""
    other_team = TeamFactory(name="Day shift")
    return SimpleNamespace(
        mine=SavedReplyFactory(
            scope="personal", owner=cast.contributor, shortcut="thanks", title="Thank you"
        ),
        theirs=SavedReplyFactory(
            scope="personal", owner=cast.supervisor, shortcut="private", title="Sam's own"
        ),
        team=SavedReplyFactory(scope="team", team=cast.team, shortcut="night", title="Night"),
        other_team=SavedReplyFactory(
            scope="team", team=other_team, shortcut="day", title="Day shift only"
        ),
        everyone=SavedReplyFactory(shortcut="hello", title="Hello"),
    )
