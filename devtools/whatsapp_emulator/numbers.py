"""Phone numbers and onboarding: list and add numbers, verification codes (SMS or voice),
register and deregister, the business profile."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from devtools.whatsapp_emulator.graph import (
    REGISTER_LIMIT,
    REGISTER_WINDOW,
    GraphError,
)
from devtools.whatsapp_emulator.state import Number


class Numbers:
    """A part of ``Emulator`` (server.py), as the module docstring says."""

    # --- phone numbers and onboarding --------------------------------------------------------
    def _phone_numbers(self, method: str, waba_id: str, data: dict):
        with self._lock:
            if waba_id not in self.templates:
                raise GraphError(100, f"Object with ID '{waba_id}' does not exist")
            if method == "GET":
                numbers = [n.as_graph() for n in self.numbers.values() if n.waba_id == waba_id]
                return {"data": numbers, "paging": {"cursors": {"before": "", "after": ""}}}
            cc, phone, name = data.get("cc"), data.get("phone_number"), data.get("verified_name")
            if not (
                isinstance(cc, str)
                and cc.isdigit()
                and isinstance(phone, str)
                and phone.isdigit()
                and 4 <= len(cc + phone) <= 15
            ):
                raise GraphError(100, "cc and phone_number must be digits")
            if not isinstance(name, str) or len(name.strip()) < 3:
                raise GraphError(100, "verified_name needs at least 3 characters")
            pnid = str(109876543000000 + next(self._ids))
            number = self.add_number(
                phone_number_id=pnid,
                waba_id=waba_id,
                display_phone_number=f"+{cc} {phone}",
                verified_name=name,
                registered=False,
            )
            number.name_status = "PENDING_REVIEW"
            return {"id": pnid}

    def _request_code(self, number: Number, data: dict) -> dict:
        if data.get("code_method") not in ("SMS", "VOICE"):
            raise GraphError(100, "code_method must be SMS or VOICE")
        if not isinstance(data.get("language", "en_US"), str):
            raise GraphError(100, "language must be a locale")
        with self._lock:
            now = self.now()
            number.code_requests = [t for t in number.code_requests if now - t < 3600]
            if len(number.code_requests) >= self.config.max_code_requests_per_hour:
                raise GraphError(136024, "Too many code requests. Wait before trying again.")
            number.code_requests.append(now)
            code = f"{secrets.randbelow(10**6):06d}"
            # Only a salted hash is kept; the clear code exists only in the test-only side channel.
            number.code_hash = self._hash_code(code)
            number.code_expires = now + self.config.code_ttl
            number.code_attempts = 0
            if self.config.expose_codes:
                self._issued_codes[number.phone_number_id] = code
            # The phone behind the number gets the code, as a real one would: the SMS text, or
            # the digits a voice call reads out. Only that phone (the phone page) shows it.
            self._device.setdefault(number.phone_number_id, []).append(
                {
                    "kind": data["code_method"].lower(),
                    "text": (
                        f"Your WhatsApp Business code is {code[:3]}-{code[3:]}. Don't share it."
                        if data["code_method"] == "SMS"
                        else f"Automated call: your WhatsApp code is {' '.join(code)}."
                    ),
                    "timestamp": int(now),
                }
            )
        return {"success": True}

    def _hash_code(self, code: str) -> str:
        return hashlib.sha256(self._code_salt + code.encode()).hexdigest()

    def _verify_code(self, number: Number, data: dict) -> dict:
        code = str(data.get("code", ""))
        with self._lock:
            if not number.code_hash:
                raise GraphError(136025, "No code was requested for this number.")
            if self.now() > number.code_expires:
                number.code_hash = ""
                raise GraphError(136025, "The code has expired. Request a new one.")
            if number.code_attempts >= self.config.max_verify_attempts:
                number.code_hash = ""
                raise GraphError(136025, "Too many attempts. Request a new code.")
            number.code_attempts += 1
            if not (
                re.fullmatch(r"\d{6}", code)
                and hmac.compare_digest(self._hash_code(code), number.code_hash)
            ):
                raise GraphError(136025, "The code is not correct.")
            number.code_hash = ""
            number.code_verification_status = "VERIFIED"
        return {"success": True}

    def _registration_call(self, number: Number) -> None:
        now = self.now()
        number.register_calls = [t for t in number.register_calls if now - t < REGISTER_WINDOW]
        if len(number.register_calls) >= REGISTER_LIMIT:
            raise GraphError(
                133016, "More than 10 register calls in 72 hours; blocked for 72 hours"
            )
        number.register_calls.append(now)

    def _register(self, number: Number, data: dict) -> dict:
        pin = str(data.get("pin", ""))
        if data.get("messaging_product") != "whatsapp" or not re.fullmatch(r"\d{6}", pin):
            raise GraphError(100, "messaging_product and a 6-digit pin are required")
        with self._lock:
            self._registration_call(number)
            if number.code_verification_status != "VERIFIED":
                raise GraphError(133006, "Verify the phone number before registering it.")
            if number.pin and not hmac.compare_digest(number.pin, pin):
                raise GraphError(133005, "The two-step verification PIN does not match.")
            number.pin = pin
            number.registered = True
        return {"success": True}

    def _deregister(self, number: Number, data: dict) -> dict:
        with self._lock:
            self._registration_call(number)
            number.registered = False
        return {"success": True}

    def _profile(self, method: str, pnid: str, data: dict):
        with self._lock:
            number = self._number(pnid)
            if method == "GET":
                return {"data": [{"messaging_product": "whatsapp", **number.profile}]}
            limits = {"about": 139, "address": 256, "description": 512, "email": 128}
            for key, limit in limits.items():
                if key in data and (not isinstance(data[key], str) or len(data[key]) > limit):
                    raise GraphError(100, f"{key} must be text of at most {limit} characters")
            if "about" in data and not data["about"]:
                raise GraphError(100, "about must have 1 to 139 characters")
            websites = data.get("websites", [])
            if (
                not isinstance(websites, list)
                or len(websites) > 2
                or not all(
                    isinstance(w, str) and re.match(r"^https?://", w) and len(w) <= 256
                    for w in websites
                )
            ):
                raise GraphError(100, "websites: at most 2 http(s) URLs of at most 256")
            for key in (*limits, "websites", "vertical"):
                if key in data:
                    number.profile[key] = data[key]
            if "profile_picture_handle" in data:
                number.profile["profile_picture_url"] = (
                    f"{self._base_url}/_emulator/profile/{pnid}.png"
                )
            return {"success": True}
