"""The one renderer: handler results → CloudStack envelopes, in JSON or XML."""

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from .errors import ApiError

JSON_TYPE = "application/json; charset=UTF-8"
XML_TYPE = "text/xml; charset=UTF-8"


@dataclass(slots=True)
class ListResult:
    """A page of a list command: `items` (dicts) and the total `count` before paging."""

    items: list[dict]
    count: int


def format_date(value: dt.datetime) -> str:
    """yyyy-MM-dd'T'HH:mm:ssZ, e.g. 2026-11-22T22:40:00+0000 (stored values are naive UTC)."""
    if value.tzinfo is None:
        return value.strftime("%Y-%m-%dT%H:%M:%S+0000")
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")


_SCALARS = (str, int, float, bool)


def clean(value: Any) -> Any:
    """Drop None fields (JSON omits empty fields) and format dates."""
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, dt.datetime):
        return format_date(value)
    return value


def body(response_name: str, object_name: str | None, result: Any) -> dict:
    """The inner envelope `{"<cmd>response": {...}}` for a handler result."""
    if isinstance(result, ListResult):
        inner: dict[str, Any] = {}
        if result.count:
            inner["count"] = result.count
        if result.items:
            inner[object_name or "item"] = result.items
    elif object_name is None:
        inner = result
    else:
        inner = {object_name: result}
    return {response_name: clean(inner)}


def error_body(response_name: str, error: ApiError) -> dict:
    inner: dict[str, Any] = {"uuidList": error.uuids, "errorcode": error.errorcode}
    if error.cserrorcode is not None:
        inner["cserrorcode"] = error.cserrorcode
    inner["errortext"] = error.text
    return {response_name: inner}


def to_json(envelope: dict) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def to_xml(envelope: dict, version: str | None = None) -> bytes:
    ((root, inner),) = envelope.items()
    attrs = f' cloud-stack-version="{escape(version)}"' if version else ""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', f"<{root}{attrs}>"]
    _xml_fields(inner, parts)
    parts.append(f"</{root}>")
    return "".join(parts).encode()


def _xml_fields(mapping: dict, parts: list[str]) -> None:
    for key, value in mapping.items():
        if isinstance(value, list):
            for item in value:
                _xml_element(key, item, parts)
        else:
            _xml_element(key, value, parts)


def _xml_element(key: str, value: Any, parts: list[str]) -> None:
    parts.append(f"<{key}>")
    if isinstance(value, dict):
        _xml_fields(value, parts)
    elif isinstance(value, bool):
        parts.append("true" if value else "false")
    elif value is not None:
        parts.append(escape(str(value)))
    parts.append(f"</{key}>")
