"""The emulator's configuration and a business phone number's state."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class EmulatorConfig:
    app_secret: str
    webhook_url: str
    # Each: phone_number_id, waba_id, display_phone_number, verified_name, token, registered.
    numbers: list[dict] = field(default_factory=list)
    verify_token: str = ""
    status_delay: float = 0.4  # seconds between sent, delivered and read
    auto_read: bool = True
    template_approval_delay: float = 5.0
    throughput_mps: int = 80  # Meta's default per-number throughput
    webhook_retry_delays: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64)
    code_ttl: int = 600  # DESIGN.md: a verification code is valid 10 minutes
    max_verify_attempts: int = 5
    max_code_requests_per_hour: int = 5
    # Test-only: keep the last issued code in clear so tests can read it. Off in demos.
    expose_codes: bool = False
    # Production answers 131047 asynchronously; "sync" mode answers HTTP 400 instead.
    window_error_sync: bool = False
    media_url_ttl: int = 300  # Meta: a media URL expires after 5 minutes
    undeliverable_numbers: frozenset[str] = frozenset()
    max_page_size: int = 1000  # tests lower it to exercise paging.next


@dataclass
class Number:
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str
    registered: bool = True
    code_verification_status: str = "VERIFIED"
    pin: str = ""
    name_status: str = "APPROVED"
    new_name_status: str = "NONE"
    is_official_business_account: bool = False
    oba_request: dict | None = None
    requested_name: str = ""
    code_hash: str = ""
    code_expires: float = 0.0
    code_attempts: int = 0
    code_requests: list[float] = field(default_factory=list)
    register_calls: list[float] = field(default_factory=list)
    profile: dict = field(
        default_factory=lambda: {
            "about": "",
            "address": "",
            "description": "",
            "email": "",
            "websites": [],
            "vertical": "OTHER",
            "profile_picture_url": "",
        }
    )

    @property
    def digits(self) -> str:
        return re.sub(r"\D", "", self.display_phone_number)

    def as_graph(self) -> dict:
        return {
            "id": self.phone_number_id,
            "display_phone_number": self.display_phone_number,
            "verified_name": self.verified_name,
            "code_verification_status": self.code_verification_status,
            "name_status": self.name_status,
            "new_name_status": self.new_name_status,
            "quality_rating": "GREEN",
            "throughput": {"level": "STANDARD"},
            "whatsapp_business_manager_messaging_limit": "TIER_2K",
            "is_official_business_account": self.is_official_business_account,
            "platform_type": "CLOUD_API" if self.registered else "NOT_APPLICABLE",
            "status": "CONNECTED" if self.registered else "PENDING",
            "account_mode": "LIVE",
            "is_pin_enabled": bool(self.pin),
        }
