"""CloudStack request signatures (spec/api-protocol.md §4-6).

The canonical string is built from the parameters as received: names sorted case-sensitively, values
encoded like Java's URLEncoder with spaces as %20, the whole string lower-cased, then HMAC-SHA1.
"""

import base64
import datetime as dt
import hashlib
import hmac
import re
from urllib.parse import quote

# Java URLEncoder keeps exactly these literal; everything else is %-encoded.
_JAVA_SAFE = "-_.*"
_PLAIN = re.compile(r"[A-Za-z0-9._*-]*\Z")


def java_encode(value: str) -> str:
    if _PLAIN.match(value):  # most values need no encoding: skip the slow path
        return value
    # Python's quote never encodes "~"; Java's URLEncoder does.
    return quote(value, safe=_JAVA_SAFE).replace("~", "%7E")


def _keep_tilde(value: str) -> str:
    return java_encode(value).replace("%7E", "~")


def _keep_brackets(value: str) -> str:
    return java_encode(value).replace("%5B", "[").replace("%5D", "]")


def _star_encoded(value: str) -> str:
    return java_encode(value).replace("*", "%2A")


def canonical(params: dict[str, str], encode=java_encode, sort_key=None) -> str:
    pairs = sorted((name, value) for name, value in params.items() if name.lower() != "signature")
    if sort_key is not None:
        pairs.sort(key=lambda pair: sort_key(pair[0]))
    return "&".join(name + "=" + encode(value) for name, value in pairs).lower()


def sign(secret: str, canonical_string: str) -> str:
    digest = hmac.new(secret.encode(), canonical_string.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sign_params(secret: str, params: dict[str, str]) -> str:
    return sign(secret, canonical(params))


# Client encoding variants accepted in lenient mode, in the order of spec/api-protocol.md §6.
LENIENT_VARIANTS = (
    ("keep-tilde", _keep_tilde, None),
    ("keep-brackets", _keep_brackets, None),
    ("star-encoded", _star_encoded, None),
    ("lowercase-sort", java_encode, str.lower),
)


def verify(secret: str, params: dict[str, str], signature: str, lenient: bool = False) -> str | None:
    """Return the name of the variant whose signature matches ("strict" first), or None."""
    expected = signature.encode()
    if hmac.compare_digest(sign(secret, canonical(params)).encode(), expected):
        return "strict"
    if lenient:
        for name, encode, sort_key in LENIENT_VARIANTS:
            if hmac.compare_digest(sign(secret, canonical(params, encode, sort_key)).encode(), expected):
                return name
    return None


_EXPIRES_CACHE: dict[str, dt.datetime | None] = {}


def parse_expires(value: str) -> dt.datetime | None:
    """Parse the `expires` formats upstream accepts; None when unparseable.

    Clients send one value per second at most, so parsed values are memoised (bounded).
    """
    if value in _EXPIRES_CACHE:
        return _EXPIRES_CACHE[value]
    parsed = _parse_expires(value)
    if len(_EXPIRES_CACHE) > 4096:
        _EXPIRES_CACHE.clear()
    _EXPIRES_CACHE[value] = parsed
    return parsed


def _parse_expires(value: str) -> dt.datetime | None:
    text = value.strip()
    # Legacy yyyy-MM-dd'T'HH:mm:ss'Z'Z, e.g. 2031-05-01T12:00:00Z+0000
    legacy = re.match(r"(.*\d)Z([+-]\d{4})\Z", text)
    if legacy:
        text = legacy.group(1) + legacy.group(2)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed
