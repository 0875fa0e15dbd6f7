"""The rooms of the house and the import arrows that must never exist (docs/architecture.md).

Every ``import`` in the apps' source is read with ``ast`` (inside functions too, so an import
moved into a function to hide an arrow is still found); migrations are left out, as they
reference historical state only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "config", "channels_app", "onboarding", "conversations", "replies", "composer", "reports",
    "automations", "routing", "devtools",
)  # fmt: skip

# app -> the desk packages it must never import. The one-way order is
# channels_app < onboarding, conversations < replies, reports < devtools; config wires them.
FORBIDDEN = {
    "channels_app": {
        "onboarding", "conversations", "replies", "composer", "reports", "automations", "routing",
        "devtools",
    },  # fmt: skip
    "onboarding": {"conversations", "replies", "reports", "devtools"},
    "conversations": {
        "onboarding", "replies", "composer", "reports", "automations", "routing", "devtools",
    },  # fmt: skip
    # Routing sits on the conversations' services and announcements and on the live push
    # (docs/routing.md); the conversations never call it (they announce, routing listens).
    "routing": {"onboarding", "replies", "composer", "reports", "automations", "devtools"},
    # Automations sit above the conversations, replies, routing and service levels; the template
    # send path asks their opt-out check through conversations.send_policy (docs/automations.md).
    "automations": {"onboarding", "reports", "devtools"},
    # The composer's tools sit on the conversations (docs/composer.md), like the saved replies.
    "composer": {"onboarding", "reports", "devtools"},
    "replies": {"onboarding", "reports", "automations", "devtools"},
    "reports": {"onboarding", "replies", "devtools"},
    "config": {"devtools", "reports", "onboarding", "replies"},
}


def imports_of(package: str, *, under: str = "") -> dict[str, set[str]]:
    """{imported module: {file that imports it}} for every .py file of ``package``."""
    found: dict[str, set[str]] = {}
    base = ROOT / package / under if under else ROOT / package
    for path in sorted(base.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_no_app_imports_a_room_above_it(app):
    arrows = {
        f"{path} imports {module}"
        for module, paths in imports_of(app).items()
        if module.split(".")[0] in FORBIDDEN[app]
        for path in paths
    }
    assert not arrows


def test_the_emulator_imports_no_django_and_of_the_desk_only_the_window_rule():
    # The window rule and the voice-note remuxer (plain Python, no Django): shared with Meta's side.
    allowed_desk = {
        "channels_app.whatsapp",
        "channels_app.whatsapp.window",
        "channels_app.whatsapp.voice",
    }
    wrong = {
        f"{path} imports {module}"
        for module, paths in imports_of("devtools", under="whatsapp_emulator").items()
        if module.split(".")[0] == "django"
        or (module.split(".")[0] in APPS and module.split(".")[0] != "devtools"
            and module not in allowed_desk)
        for path in paths
    }
    assert not wrong


def test_the_whatsapp_package_knows_no_app_above_it():
    wrong = {
        f"{path} imports {module}"
        for module, paths in imports_of("channels_app", under="whatsapp").items()
        if module.split(".")[0] in APPS and module.split(".")[0] != "channels_app"
        for path in paths
    }
    assert not wrong


def test_each_forbidden_arrow_is_really_looked_for(tmp_path, monkeypatch):
    """The scan finds an arrow hidden in a function body (so a passing test means something)."""
    package = tmp_path / "conversations"
    package.mkdir()
    (package / "sneaky.py").write_text("def f():\n    from reports import tallies\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert "reports" in imports_of("conversations")
