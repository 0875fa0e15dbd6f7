"""Every URL of the project, requested as each persona, answers what tests/security/matrix.py
says: the capability table of DESIGN.md, 404 for what a user cannot see, 403 for what their role
does not allow, the login page for anonymous users and the admin login for non-staff."""

import pytest
from django.contrib import admin

from channels_app.access import MINIMUM_ROLE, Role
from tests.security.conftest import client_as
from tests.security.matrix import (
    DESIGN_TABLE,
    MODEL_RULES,
    PERSONAS,
    ROLE_ORDER,
    matrix,
    url_patterns,
)

PATTERNS = url_patterns()
MATRIX = matrix()


def test_the_design_table_restated_here_is_the_one_access_enforces():
    role_names = {
        Role.VIEWER: "viewer",
        Role.CONTRIBUTOR: "contributor",
        Role.SUPERVISOR: "supervisor",
        Role.ADMIN: "admin",
    }
    enforced = {
        cap.value: set(ROLE_ORDER[ROLE_ORDER.index(role_names[minimum]) :])
        for cap, minimum in MINIMUM_ROLE.items()
    }
    assert enforced == DESIGN_TABLE


def test_every_registered_model_admin_has_rules():
    registered = {model._meta.label_lower for model in admin.site._registry}
    missing = registered - set(MODEL_RULES)
    assert not missing, f"admin models without rules in tests/security/matrix.py: {missing}"
    assert not set(MODEL_RULES) - registered, "rules for models no longer in the admin"


def test_the_emulator_is_not_served_by_the_project():
    # The WhatsApp emulator is a separate server (manage.py whatsapp_emulator), never a route.
    graph_like = [p.route for p in PATTERNS.values() if "v23" in p.route or "graph" in p.route]
    assert graph_like == []


@pytest.mark.parametrize("key", sorted(set(PATTERNS) | set(MATRIX)))
def test_url_answers_each_persona_as_the_matrix_says(key, world):
    assert key in PATTERNS, (
        f"tests/security/matrix.py has an entry for {key!r}, which no longer exists"
    )
    assert key in MATRIX, (
        f"URL pattern {key!r} (route {PATTERNS[key].route!r}) has no entry in "
        "tests/security/matrix.py: decide who may use it before it goes live"
    )
    wrong = []
    for case in MATRIX[key]:
        assert set(case.expect) == set(PERSONAS), f"{key} / {case.label}: a persona is missing"
        for persona in PERSONAS:
            client = client_as(world, persona, fresh_session=case.fresh_session)
            url = case.url(world)
            if case.method == "GET":
                response = client.get(url, case.data(world))
            else:
                response = client.post(url, case.data(world))
            response.close()  # a file download holds its file open until closed
            expected = case.expect[persona]
            if not expected.matches(response):
                got = response.status_code
                if response.has_header("Location"):
                    got = f"{got} → {response['Location']}"
                wrong.append(
                    f"{case.method} {url} ({case.label}) as {persona}: "
                    f"expected {expected}, got {got}"
                )
    assert not wrong, "\n".join(wrong)
