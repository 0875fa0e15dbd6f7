"""Graph objects by id (media, numbers, templates) and the message templates of a WhatsApp
Business account: list with paging, create with Meta's rules, review, delete."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from devtools.whatsapp_emulator.graph import (
    LANGUAGES,
    PLACEHOLDER_RE,
    TEMPLATE_NAME_RE,
    GraphError,
    decode_cursor,
    encode_cursor,
    pick_fields,
)


class GraphObjects:
    """A part of ``Emulator`` (server.py), as the module docstring says."""

    # --- graph objects by id -----------------------------------------------------------------
    def _object(self, method: str, obj_id: str, query: dict, body: bytes):
        with self._lock:
            if obj_id in self.media:
                if method == "DELETE":
                    del self.media[obj_id]
                    return {"success": True}
                media = self.media[obj_id]
                expires = int(self.now()) + self.config.media_url_ttl
                url = f"{self._base_url}/_emulator/media/{obj_id}?" + urlencode(
                    {"exp": expires, "sig": self._media_signature(obj_id, expires)}
                )
                return {
                    "messaging_product": "whatsapp",
                    "url": url,
                    "mime_type": media["mime_type"],
                    "sha256": media["sha256"],
                    "file_size": len(media["content"]),
                    "id": obj_id,
                }
            if obj_id in self.numbers:
                number = self.numbers[obj_id]
                if method == "GET":
                    return pick_fields(number.as_graph(), query.get("fields"))
                if method == "POST":
                    data = self._json(body)
                    if "pin" in data:
                        if not re.fullmatch(r"\d{6}", str(data["pin"])):
                            raise GraphError(100, "pin must be 6 digits")
                        number.pin = str(data["pin"])
                    if "new_display_name" in data:
                        number.new_name_status = "PENDING_REVIEW"
                        number.requested_name = str(data["new_display_name"])
                    return {"success": True}
            for templates in self.templates.values():
                for template in templates.values():
                    if template["id"] == obj_id:
                        if method == "GET":
                            return pick_fields(template, query.get("fields"))
                        if method == "POST":
                            data = self._json(body)
                            if "components" in data:
                                self._check_components(data["components"])
                                template["components"] = data["components"]
                                template["status"] = "PENDING"
                                self._schedule_review(templates, template)
                            return {"success": True}
        raise GraphError(100, f"Object with ID '{obj_id}' does not exist")

    # --- templates ---------------------------------------------------------------------------
    def _templates(self, method: str, waba_id: str, query: dict, data: dict):
        with self._lock:
            if waba_id not in self.templates:
                raise GraphError(100, f"Object with ID '{waba_id}' does not exist")
            templates = self.templates[waba_id]
            if method == "GET":
                items = [
                    t
                    for t in templates.values()
                    if all(
                        query.get(k) in (None, "", t[k])
                        for k in ("name", "status", "category", "language")
                    )
                ]
                items.sort(key=lambda t: (t["name"], t["language"]))
                limit = int(query["limit"]) if query.get("limit", "").isdigit() else 25
                limit = max(1, min(limit, self.config.max_page_size))
                offset = decode_cursor(query.get("after"))
                page = items[offset : offset + limit]
                wanted = query.get("fields")
                result: dict = {
                    "data": [pick_fields(t, wanted) for t in page],
                    "paging": {
                        "cursors": {
                            "before": encode_cursor(offset),
                            "after": encode_cursor(offset + len(page)),
                        }
                    },
                }
                if offset + limit < len(items):
                    next_query = {**query, "after": encode_cursor(offset + limit)}
                    next_query.pop("access_token", None)
                    result["paging"]["next"] = (
                        f"{self.graph_url}/{waba_id}/message_templates?{urlencode(next_query)}"
                    )
                return result
            if method == "DELETE":
                name = query.get("name")
                doomed = [
                    k
                    for k, t in templates.items()
                    if k[0] == name and query.get("hsm_id") in (None, "", t["id"])
                ]
                if not doomed:
                    raise GraphError(100, "template not found")
                for key in doomed:
                    del templates[key]
                return {"success": True}
            return self._create_template(templates, data)

    def _create_template(self, templates: dict, data: dict) -> dict:
        name, language = data.get("name"), data.get("language")
        if not isinstance(name, str) or not TEMPLATE_NAME_RE.fullmatch(name):
            raise GraphError(
                100,
                "invalid name",
                subcode=2388001,
                user_msg=("The name may contain only lowercase letters, numbers and underscores."),
            )
        if language not in LANGUAGES:
            raise GraphError(
                100,
                "invalid language",
                subcode=2388002,
                user_msg=f"Language {language!r} is not supported.",
            )
        category = data.get("category")
        if category not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
            raise GraphError(
                100,
                "invalid category",
                subcode=2388003,
                user_msg="Category must be MARKETING, UTILITY or AUTHENTICATION.",
            )
        if (name, language) in templates:
            raise GraphError(
                100,
                "template exists",
                subcode=2388024,
                user_msg="A template with this name and language already exists.",
            )
        components = data.get("components")
        self._check_components(components)
        template = {
            "id": str(778899000000000 + next(self._ids)),
            "name": name,
            "language": language,
            "status": "PENDING",
            "category": category,
            "parameter_format": data.get("parameter_format") or "POSITIONAL",
            "components": components,
            "rejected_reason": "NONE",
            "quality_score": {"score": "UNKNOWN", "date": int(self.now())},
        }
        templates[(name, language)] = template
        self._schedule_review(templates, template)
        return {"id": template["id"], "status": "PENDING", "category": category}

    def _check_components(self, components) -> None:
        if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
            raise GraphError(100, "components must be a list", subcode=2388047)
        kinds = [str(c.get("type", "")).upper() for c in components]
        if kinds.count("BODY") != 1 or any(kinds.count(k) > 1 for k in set(kinds)):
            raise GraphError(
                100,
                "exactly one BODY and at most one of each component",
                subcode=2388047,
                user_msg="A template needs exactly one body.",
            )
        for component in components:
            kind = str(component.get("type")).upper()
            text = component.get("text", "")
            if kind == "BODY":
                if not isinstance(text, str) or not text.strip() or len(text) > 1024:
                    raise GraphError(
                        100,
                        "body text",
                        subcode=2388040,
                        user_msg="The body must have 1 to 1024 characters.",
                    )
                numbers = [int(v) for v in PLACEHOLDER_RE.findall(text) if v.isdigit()]
                if sorted(set(numbers)) != list(range(1, len(set(numbers)) + 1)):
                    raise GraphError(
                        100,
                        "placeholders",
                        subcode=2388047,
                        user_msg="Placeholders must be numbered {{1}}, {{2}}… without gaps.",
                    )
                stripped = text.strip()
                if numbers and (stripped.startswith("{{") or stripped.endswith("}}")):
                    raise GraphError(
                        100,
                        "leading/trailing variable",
                        subcode=2388299,
                        user_msg="The body may not start or end with a variable.",
                    )
                if numbers and not (component.get("example") or {}).get("body_text"):
                    raise GraphError(
                        100,
                        "examples",
                        subcode=2388047,
                        user_msg="Every variable needs an example.",
                    )
            elif kind in ("HEADER", "FOOTER") and isinstance(text, str) and len(text) > 60:
                raise GraphError(
                    100,
                    f"{kind.lower()} too long",
                    subcode=2388040,
                    user_msg=f"The {kind.lower()} may have at most 60 characters.",
                )

    def _schedule_review(self, templates: dict, template: dict) -> None:
        # Demo hook: a name starting with "reject" is rejected, everything else approved.
        status = "REJECTED" if template["name"].startswith("reject") else "APPROVED"
        reason = "INVALID_FORMAT" if status == "REJECTED" else "NONE"
        key = (template["name"], template["language"])

        def review():
            if templates.get(key) is template and template["status"] == "PENDING":
                self.decide_template(template["id"], status, reason=reason)

        self._schedule(self.config.template_approval_delay, review)

    def decide_template(self, template_id: str, status: str, *, reason: str = "NONE") -> None:
        """Meta's review: set a template's status and send message_template_status_update."""
        with self._lock:
            found = [
                (waba, t)
                for waba, ts in self.templates.items()
                for t in ts.values()
                if t["id"] == str(template_id)
            ]
            if not found:
                raise GraphError(100, "template not found")
            waba_id, template = found[0]
            template["status"] = status
            template["rejected_reason"] = reason if status == "REJECTED" else "NONE"
            number = next((n for n in self.numbers.values() if n.waba_id == waba_id), None)
        if number is None:
            return
        value = {
            "event": status,
            "message_template_id": int(template["id"]),
            "message_template_name": template["name"],
            "message_template_language": template["language"],
            "message_template_category": template["category"],
            "reason": reason if status == "REJECTED" else "NONE",
        }
        if status == "REJECTED" and reason == "INVALID_FORMAT":
            value["rejection_info"] = {
                "reason": "The template format is not valid.",
                "recommendation": "Check the placeholders.",
            }
        self.deliver_webhook(
            self._envelope(number, value, field_name="message_template_status_update")
        )
