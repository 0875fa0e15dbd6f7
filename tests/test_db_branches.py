"""At most four places in the app code branch on the database engine (issue 14).

The differences between PostgreSQL and SQLite live in one home, ``config/db_features.py``: a
dialect object per engine with the SQL fragments, expressions and locks the app code calls
without asking which engine runs. What stays outside are the few features that change a whole
algorithm, each behind one guard at its entry (the inbound statement, the auto-resolve batch
engine, the partitions, the reports' one-scan figures).

A branch on the database is, in any first-party module but migrations and that home:

- a read of ``.vendor`` (``connection.vendor == ...``);
- a call of ``is_postgres``;
- a comparison with an engine's name (``"postgresql"``, ``"sqlite"``, their backend paths);
- a lookup in ``DIALECTS``;
- a condition (``if``, ``... if ... else ...``, ``while``, a comprehension's ``if``) that
  reads the dialect (a call of ``dialect(...)`` or anything of ``db_features``).

Django's own feature flags (``connection.features.has_select_for_update_skip_locked``) are the
engine's capabilities as Django itself uses them, and ``as_postgresql``/``as_sqlite`` methods are
Django's dispatch of an expression: neither is counted. ``config/settings.py`` configures each
engine's connection and is not app code.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_architecture import ROOT, _modules

MAX_BRANCHES = 4
HOME = "config.db_features"
NOT_APP_CODE = {HOME, "config.settings"}
ENGINE_NAMES = {
    "postgresql",
    "sqlite",
    "sqlite3",
    "django.db.backends.postgresql",
    "django.db.backends.sqlite3",
}


def _reads_dialect(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"dialect", "is_postgres"}:
                return True
        if isinstance(sub, ast.Name) and sub.id == "db_features":
            return True
    return False


def branches_in(source: str) -> list[int]:
    """The line of every branch on the database in ``source`` (one per place)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "vendor":
            lines.add(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "is_postgres":
                lines.add(node.lineno)
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value in ENGINE_NAMES for o in operands):
                lines.add(node.lineno)
        elif isinstance(node, ast.Subscript):
            value = node.value
            name = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", "")
            if name == "DIALECTS":
                lines.add(node.lineno)
        elif isinstance(node, (ast.If, ast.IfExp, ast.While)) and _reads_dialect(node.test):
            lines.add(node.test.lineno)
        elif isinstance(node, ast.comprehension) and any(_reads_dialect(c) for c in node.ifs):
            lines.add(node.ifs[0].lineno)
    return sorted(lines)


def database_branches() -> dict[str, list[int]]:
    """{module path: [lines]} of every branch on the database in the app code."""
    found = {}
    for module, path in _modules().items():
        if module in NOT_APP_CODE:
            continue
        lines = branches_in(Path(path).read_text())
        if lines:
            found[str(path.relative_to(ROOT))] = lines
    return found


def test_at_most_four_places_branch_on_the_database():
    found = database_branches()
    places = [f"{path}:{line}" for path, lines in sorted(found.items()) for line in lines]
    assert len(places) <= MAX_BRANCHES, (
        f"{len(places)} places branch on the database engine (at most {MAX_BRANCHES}); "
        "put the difference in config/db_features.py's dialects instead:\n" + "\n".join(places)
    )


def test_every_kind_of_branch_is_counted():
    source = """
from config import db_features
from config.db_features import is_postgres
from django.db import connection

a = connection.vendor == "postgresql"
if is_postgres():
    pass
b = 1 if db_features.dialect().grouping_sets else 2
c = db_features.DIALECTS["sqlite"]
while db_features.dialect().partitioned:
    break
d = [x for x in () if db_features.dialect().partitioned]
e = connection.settings_dict["ENGINE"] == "django.db.backends.sqlite3"
f = db_features.dialect().greatest                         # not a branch: a fragment
g = connection.features.has_select_for_update              # not counted: Django's flag
"""
    assert branches_in(source) == [6, 7, 9, 10, 11, 13, 14]
