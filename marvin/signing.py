"""Request signing as CloudStack defines it (names sorted as sent, values encoded like Java's
URLEncoder with %20 for spaces, the whole string lower-cased, HMAC-SHA1, Base64)."""

import base64
import datetime as dt
import hashlib
import hmac
from urllib.parse import quote


def encode(value: str) -> str:
    return quote(value, safe="-_.*").replace("~", "%7E")


def signature(secret: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{k}={encode(v)}" for k, v in sorted(params.items())).lower()
    digest = hmac.new(secret.encode(), canonical.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def expires_in(seconds: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S+0000")
