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
        "onboarding",
        "conversations",
        "replies",
        "composer",
        "reports",
        "automations",
        "routing",
        "devtools",
    },
    "onboarding": {"conversations", "replies", "reports", "devtools"},
    "conversations": {
        "onboarding",
        "replies",
        "composer",
        "reports",
        "automations",
        "routing",
        "devtools",
    },
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


# --- one seam per medium (issue 14; docs/architecture.md, "Transports") --------------------------

# The parts of WhatsApp's package that are the seam's: sending and fetching (the client),
# parsing and verifying a request (the parser), the window, the transport itself. Above
# channels_app they are reached only through ``channels_app.transports`` by the channel's kind.
SEAM_PARTS = {
    "channels_app.whatsapp.client",
    "channels_app.whatsapp.webhooks",
    "channels_app.whatsapp.window",
    "channels_app.whatsapp.transport",
}
# The rooms above channels_app that serve every medium: all but onboarding, which connects a
# WhatsApp number (docs/onboarding.md), and devtools, which holds the emulator of WhatsApp's API.
MEDIUM_NEUTRAL = sorted(
    ({p.parent.name for p in ROOT.glob("*/apps.py")} | {"config"})
    - {"channels_app", "onboarding", "devtools"}
)


def modules_imported(package: str) -> dict[str, set[str]]:
    """Like ``imports_of``, but ``from a.b import c`` also counts as importing ``a.b.c``."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for name in names:
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("app", MEDIUM_NEUTRAL)
def test_a_medium_is_reached_only_through_the_transports(app):
    wrong = {
        f"{path} imports {module}"
        for module, paths in modules_imported(app).items()
        if module in SEAM_PARTS
        for path in paths
    }
    assert not wrong


def test_the_seam_check_sees_a_part_imported_by_name(tmp_path, monkeypatch):
    package = tmp_path / "conversations"
    package.mkdir()
    (package / "sneaky.py").write_text("from channels_app.whatsapp import client\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert "channels_app.whatsapp.client" in modules_imported("conversations")


def test_each_forbidden_arrow_is_really_looked_for(tmp_path, monkeypatch):
    """The scan finds an arrow hidden in a function body (so a passing test means something)."""
    package = tmp_path / "conversations"
    package.mkdir()
    (package / "sneaky.py").write_text("def f():\n    from reports import tallies\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert "reports" in imports_of("conversations")


# --- cycles, imports inside functions, module size (issue 14) ------------------------------

# Every first-party package: the apps (each with an apps.py) and config.
PACKAGES = sorted({p.parent.name for p in ROOT.glob("*/apps.py")} | {"config"})
MAX_MODULE_LINES = 600


def _modules() -> dict[str, Path]:
    """{dotted module name: path} of every first-party module but migrations."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module):
    """The imports that run when the module loads: its body and its (non-TYPE_CHECKING) ifs and
    trys, not functions or classes' methods."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody
            for handler in node.handlers:
                stack += handler.body


def import_graph() -> dict[str, set[str]]:
    """{module: first-party modules it imports when it loads}. ``from package import name``
    counts as importing ``package.name`` when that is a module (Python loads the submodule; the
    package's ``__init__`` re-exporting it is no cycle)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, set())
        for node in _top_level_imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif node.level == 0 and node.module:
                subs = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [s for s in subs if s in modules] or [node.module]
            else:
                continue
            edges.update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def function_level_imports(path: Path) -> list[str]:
    """Imports inside a function body, but an AppConfig's ``ready`` (where Django wants signal
    and check registration) and ``if TYPE_CHECKING:`` blocks."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if function.name == "ready":
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_import_inside_a_function():
    """An import inside a function hides an arrow (or a cycle) from the reader: the modules
    import at the top, and a cycle is broken by moving code, not by deferring the import."""
    found = [hit for path in _modules().values() for hit in function_level_imports(path)]
    assert found == []


def test_no_app_module_is_longer_than_600_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules().values()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
