"""The API client: signed GET/POST (legacy or signatureVersion 3), session login, or the unsigned
integration port; CloudStack errors raised as `CloudstackError`; async jobs awaited with backoff."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from .errors import CloudstackError, JobFailed, JobTimeout
from .signing import expires_in, signature

# Reads may be retried after a dropped connection; commands that change state are never retried.
SAFE_PREFIXES = ("list", "get", "query")


def flatten(params: dict[str, Any]) -> dict[str, str]:
    """Marvin's wire form: drop None, join scalar lists with commas, index lists of dicts and dicts."""
    flat: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif isinstance(value, dict):
            for i, (key, item) in enumerate(value.items()):
                flat[f"{name}[{i}].key"] = str(key)
                flat[f"{name}[{i}].value"] = str(item)
        elif isinstance(value, list | tuple):
            if value and all(isinstance(item, dict) for item in value):
                for i, item in enumerate(value):
                    for key, sub in item.items():
                        flat[f"{name}[{i}].{key}"] = "true" if sub is True else "false" if sub is False else str(sub)
            elif value:
                flat[name] = ",".join(str(item) for item in value)
        else:
            flat[name] = str(value)
    return flat


def signed_query(client, command: str, params: dict[str, Any] | None, sign: bool = True) -> dict[str, str]:
    """The parameters of one call as `client` (Client or AsyncClient) sends them: Marvin's wire form, then
    its session key, or its API key and signature (signatureVersion 3 adds `expires`)."""
    query = {"command": command, "response": "json", **flatten(params or {})}
    if client.sessionkey and sign:
        query["sessionkey"] = client.sessionkey
    elif client.apikey and sign:
        query["apiKey"] = client.apikey
        if client.signature_version == 3:
            query["signatureVersion"] = "3"
            query["expires"] = expires_in(client.expires)
        query["signature"] = signature(client.secretkey or "", query)
    return query


def answer(command: str, status: int, text: str) -> dict:
    """The inner object of a `<command>response` body, or CloudstackError (an error status or body)."""
    try:
        body = json.loads(text)
    except ValueError:
        raise CloudstackError(command, status, text[:500], status=status) from None
    inner = next(iter(body.values()), {})
    if status != 200 or (isinstance(inner, dict) and "errorcode" in inner):
        raise CloudstackError(command, int(inner.get("errorcode", status)), inner.get("errortext", ""),
                              inner.get("cserrorcode"), status=status, body=body)
    return inner


def items_key(inner: dict) -> str | None:
    """The key of a list answer's items (the one that is not `count`)."""
    return next((k for k in inner if k != "count"), None)


def unwrap(inner: dict) -> dict:
    """`{"account": {...}}` → the account; anything else unchanged."""
    if len(inner) == 1:
        (value,) = inner.values()
        if isinstance(value, dict):
            return value
    return inner


class Client:
    """Talks to one management server. Pick the authentication by what you pass:

    - `apikey`/`secretkey`: signed requests (`signature_version=3` adds `expires`);
    - `username`/`password`: a `login` session (cookie + sessionkey);
    - neither: unsigned calls, for the integration port.
    """

    def __init__(self, url: str, apikey: str | None = None, secretkey: str | None = None, *,
                 username: str | None = None, password: str | None = None, domain: str = "/",
                 signature_version: int | None = None, expires: int = 600, timeout: float = 30,
                 method: str = "GET", job_timeout: float = 600, poll_interval: float = 0.05):
        self.url = url
        self.apikey, self.secretkey = apikey, secretkey
        self.signature_version = signature_version
        self.expires = expires
        self.timeout = timeout
        self.method = method.upper()
        self.job_timeout = job_timeout
        self.poll_interval = poll_interval
        self.http = requests.Session()
        self.sessionkey: str | None = None
        if username is not None:
            self.login(username, password or "", domain)

    # ---- sessions -------------------------------------------------------------------------------

    def login(self, username: str, password: str, domain: str = "/") -> dict:
        answer = self.request("login", {"username": username, "password": password, "domain": domain},
                              method="POST", sign=False)
        self.sessionkey = answer["sessionkey"]
        return answer

    def logout(self) -> dict:
        answer = self.request("logout", {})
        self.sessionkey = None
        return answer

    # ---- calls ----------------------------------------------------------------------------------

    def raw(self, command: str, params: dict[str, Any] | None = None, *, method: str | None = None,
            sign: bool = True) -> requests.Response:
        """Send one request; answer the HTTP response untouched."""
        query = signed_query(self, command, params, sign)
        method = (method or self.method).upper()
        attempts = 3 if command.startswith(SAFE_PREFIXES) else 1
        for attempt in range(attempts):
            try:
                if method == "POST":
                    return self.http.post(self.url, data=query, timeout=self.timeout)
                return self.http.get(self.url, params=query, timeout=self.timeout)
            except requests.ConnectionError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def request(self, command: str, params: dict[str, Any] | None = None, *, method: str | None = None,
                sign: bool = True) -> dict:
        """Call a command; answer the inner object of `<command>response` or raise CloudstackError."""
        response = self.raw(command, params, method=method, sign=sign)
        return answer(command, response.status_code, response.text)

    def __call__(self, command: str, **params: Any) -> dict:
        """Call a command, wait for its job if it answers one, and answer the object it returns
        (`{"success": true}` style answers are returned as they are)."""
        inner = self.request(command, params)
        if "jobid" in inner and set(inner) <= {"jobid", "id"}:
            inner = self.wait(inner["jobid"], command)
        return unwrap(inner)

    def list(self, command: str, key: str | None = None, **params: Any) -> list[dict]:
        """A list command's items: every page, following `count` (the first answer's length is the page
        size asked for then); only the page asked for when `page` or `pagesize` is given."""
        inner = self.request(command, params)
        key = key or items_key(inner)
        items = list(inner.get(key, [])) if key else []
        if "page" in params or "pagesize" in params:
            return items
        size, page = len(items), 1
        while items and len(items) < int(inner.get("count") or 0):
            page += 1
            inner = self.request(command, {**params, "page": page, "pagesize": size})
            batch = inner.get(key, [])
            if not batch:
                break
            items.extend(batch)
        return items

    def wait(self, jobid: str, command: str = "queryAsyncJobResult", timeout: float | None = None) -> dict:
        """Poll a job with backoff until it finishes; answer `jobresult` or raise JobFailed."""
        deadline = time.monotonic() + (timeout or self.job_timeout)
        delay = self.poll_interval
        while True:
            job = self.request("queryAsyncJobResult", {"jobid": jobid})
            if job["jobstatus"] == 1:
                return job.get("jobresult", {})
            if job["jobstatus"] in (2, 3):
                raise JobFailed(command, jobid, job.get("jobresult", {}))
            if time.monotonic() > deadline:
                raise JobTimeout(f"job {jobid} ({command}) still pending after {timeout or self.job_timeout}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
