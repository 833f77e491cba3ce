"""Parameter types of the API and their conversion from request strings.

The type names are the ones `listApis` reports (CloudStack's CommandType, lower-cased).
"""

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidParameter, ServerApiError

STRING = "string"
UUID = "uuid"
BOOLEAN = "boolean"
INTEGER = "integer"
LONG = "long"
SHORT = "short"
FLOAT = "float"
DOUBLE = "double"
LIST = "list"
MAP = "map"
DATE = "date"
TZDATE = "tzdate"
OBJECT = "object"

_INT_RANGES = {SHORT: 2**15, INTEGER: 2**31, LONG: 2**63}
_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
# Control characters other than tab, CR and LF (which PEM certificates and SSH keys carry).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(slots=True)
class Param:
    """One declared API parameter."""

    name: str
    type: str = STRING
    required: bool = False
    description: str = ""
    length: int = 255
    # For UUID (and LIST of UUID): the model class whose `uuid` column the value names.
    entity: Any = None
    # For LIST: the type of each element.
    of: str = STRING
    since: str | None = None
    # Parameters refused on the unauthenticated integration port.
    not_on_integration_port: bool = False
    # For UUID parameters naming account-owned rows: check the caller may act on the row.
    check_access: bool = True
    choices: tuple[str, ...] | None = None
    related: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.name.lower()


def invalid_value(cmd: str, name: str, value: str) -> ServerApiError:
    return ServerApiError(
        f"Unable to execute API command {cmd} due to invalid value {value} for parameter {name}",
        errorcode=431,
    )


def check_printable(name: str, value: str) -> None:
    if _CONTROL_RE.search(value):
        raise InvalidParameter(
            f"Received value containing illegal ASCII non-printable characters for parameter {name}"
        )


def parse_boolean(value: str) -> bool:
    """Java's Boolean.valueOf: only a case-insensitive "true" is true."""
    return value.lower() == "true"


def convert_scalar(cmd: str, name: str, typ: str, value: str, length: int = 255) -> Any:
    """Convert one request string to the parameter's Python value (UUIDs stay strings here)."""
    if typ in (STRING, UUID):
        if len(value) > length:
            raise InvalidParameter(f"Value greater than max allowed length {length} for param: {name}")
        return value
    if typ == BOOLEAN:
        return parse_boolean(value)
    if typ in _INT_RANGES:
        if not _INT_RE.match(value):
            raise invalid_value(cmd, name, value)
        number = int(value)
        bound = _INT_RANGES[typ]
        if not -bound <= number < bound:
            raise invalid_value(cmd, name, value)
        return number
    if typ in (FLOAT, DOUBLE):
        if not _FLOAT_RE.match(value):
            raise invalid_value(cmd, name, value)
        return float(value)
    if typ == DATE:
        return parse_date(cmd, value)
    if typ == TZDATE:
        return parse_tzdate(cmd, value)
    return value


def parse_date(cmd: str, value: str) -> dt.datetime:
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"):
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ServerApiError(
        f"Unable to parse date {value} for command {cmd}, please pass dates in the format mentioned "
        "in the api documentation",
        errorcode=431,
    )


def parse_tzdate(cmd: str, value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return parse_date(cmd, value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


_MAP_KEY_RE = re.compile(r"([^\[]+)\[(\d+)\]\.(.+)\Z")


def collect_maps(raw: dict[str, str], wanted: set[str]) -> dict[str, list[dict[str, str]]]:
    """Gather `name[i].key=value` request parameters into `{name: [ {key: value}, ... ]}`.

    Entries are ordered by index; keys inside an entry keep the caller's spelling.
    """
    found: dict[str, dict[int, dict[str, str]]] = {}
    for key, value in raw.items():
        if "[" not in key:
            continue
        match = _MAP_KEY_RE.match(key)
        if not match:
            continue
        base = match.group(1).lower()
        if base not in wanted:
            continue
        entry = found.setdefault(base, {}).setdefault(int(match.group(2)), {})
        entry[match.group(3)] = value
    return {base: [entries[i] for i in sorted(entries)] for base, entries in found.items()}


def map_to_dict(entries: list[dict[str, str]] | None) -> dict[str, str]:
    """Flatten a map parameter sent either as `x[0].key=k&x[0].value=v` or as `x[0].k=v`."""
    result: dict[str, str] = {}
    for entry in entries or ():
        if "key" in entry and "value" in entry and len(entry) == 2:
            result[entry["key"]] = entry["value"]
        else:
            result.update(entry)
    return result
