"""Descriptions of response objects, for `listApis` (and the Marvin code generator that reads it).

Each views module describes the objects it renders: `describe("zone", {"id": "the ID of the zone", ...})`.
"""

RESPONSES: dict[str, dict[str, str]] = {}


def describe(name: str, fields: dict[str, str]) -> dict[str, str]:
    RESPONSES[name] = fields
    return fields


def response_fields(name: str | None, inline: dict[str, str]) -> list[dict]:
    fields = inline if name is None else RESPONSES.get(name, {})
    return [{"name": key, "description": text, "type": _guess_type(key)} for key, text in fields.items()]


def _guess_type(key: str) -> str:
    if key in ("count", "level", "accounttype", "jobstatus", "jobresultcode", "jobprocstatus", "timeout"):
        return "integer"
    if key.startswith("is") or key in ("success", "haschild", "enabled"):
        return "boolean"
    if key in ("created", "completed", "removed"):
        return "date"
    if key in ("user", "tags", "details", "jobresult"):
        return "list" if key in ("user", "tags") else "map"
    return "string"
