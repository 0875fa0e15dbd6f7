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
    grouped,
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


def test_every_url_pattern_has_an_entry_and_every_entry_a_pattern():
    missing = [f"{key!r} (route {PATTERNS[key].route!r})" for key in PATTERNS if key not in MATRIX]
    assert not missing, (
        "URL patterns without an entry in tests/security/matrix.py (decide who may use them "
        "before they go live): " + ", ".join(missing)
    )
    stale = sorted(set(MATRIX) - set(PATTERNS))
    assert not stale, f"tests/security/matrix.py has entries for patterns that are gone: {stale}"


GROUPS = grouped(set(PATTERNS) | set(MATRIX))


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_urls_answer_each_persona_as_the_matrix_says(group, world):
    wrong = []
    for key in GROUPS[group]:
        if key not in PATTERNS or key not in MATRIX:
            wrong.append(f"{key}: not both in the URLconf and in the matrix (see the test above)")
            continue
        wrong += _mismatches(key, world)
    assert not wrong, "\n".join(wrong)


def _mismatches(key, world) -> list[str]:
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
            if response.streaming:
                # Reading a download to its end closes its file (and fires request_finished with
                # the test client's guard in place; response.close() here would close the
                # database connection of the test's transaction on PostgreSQL).
                b"".join(response.streaming_content)
            expected = case.expect[persona]
            if not expected.matches(response):
                got = response.status_code
                if response.has_header("Location"):
                    got = f"{got} → {response['Location']}"
                wrong.append(
                    f"[{key}] {case.method} {url} ({case.label}) as {persona}: "
                    f"expected {expected}, got {got}"
                )
    return wrong
