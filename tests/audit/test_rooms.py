"""Where api and audit sit (docs/architecture.md): nothing imports audit, only config imports
api."""

from __future__ import annotations

import pytest

from tests.test_architecture import imports_of

APPS = ("channels_app", "onboarding", "conversations", "replies", "reports", "automations",
        "routing", "service_levels", "realtime", "composer", "api", "config")  # fmt: skip


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_the_audit_log(app):
    try:
        found = imports_of(app)
    except FileNotFoundError:  # pragma: no cover
        pytest.skip(f"{app} is not in this tree")
    assert not {m for m in found if m.split(".")[0] == "audit"}


@pytest.mark.parametrize("app", [a for a in APPS if a not in ("config", "api")])
def test_only_config_imports_the_api(app):
    assert not {m for m in imports_of(app) if m.split(".")[0] == "api"}
