"""System checks that refuse settings which would break a delivery guarantee."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from conversations.checks import check_outbound_sweep_thresholds


def test_defaults_pass():
    assert check_outbound_sweep_thresholds() == []


def test_a_sweep_that_could_resend_a_live_send_is_an_error(settings):
    settings.WHATSAPP_HTTP_TIMEOUT = 30.0
    settings.OUTBOUND_STUCK_SENDING_AFTER = timedelta(seconds=60)

    [error] = check_outbound_sweep_thresholds()
    assert error.id == "conversations.E001"
    assert "120 s" in error.msg
    with pytest.raises(SystemCheckError, match=r"conversations\.E001"):
        call_command("check")
