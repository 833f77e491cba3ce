"""`AsyncClient`: the API client for asyncio (aiohttp), for load. Same wire form, signing, sessions
and job waiting as `marvin.client.Client`; many calls may be in flight at once on one client.

    async with AsyncClient(url, apikey, secretkey) as api:
        accounts = await asyncio.gather(*(api("createAccount", ...) for _ in range(100)))
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from .client import answer, items_key, signed_query, unwrap
from .errors import JobFailed, JobTimeout


class AsyncClient:
    def __init__(self, url: str, apikey: str | None = None, secretkey: str | None = None, *,
                 signature_version: int | None = None, expires: int = 600, timeout: float = 30,
                 method: str = "GET", job_timeout: float = 600, poll_interval: float = 0.05,
                 connections: int = 100):
        self.url = url
        self.apikey, self.secretkey = apikey, secretkey
        self.signature_version = signature_version
        self.expires = expires
        self.method = method.upper()
        self.job_timeout = job_timeout
        self.poll_interval = poll_interval
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.connections = connections
        self.http: aiohttp.ClientSession | None = None
        self.sessionkey: str | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None

    def session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop; the cookie jar carries a login session.
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=self.timeout, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                              connector=aiohttp.TCPConnector(limit=self.connections))
        return self.http

    # ---- sessions -------------------------------------------------------------------------------

    async def login(self, username: str, password: str, domain: str = "/") -> dict:
        answer = await self.request("login", {"username": username, "password": password, "domain": domain},
                                    method="POST", sign=False)
        self.sessionkey = answer["sessionkey"]
        return answer

    async def logout(self) -> dict:
        answer = await self.request("logout", {})
        self.sessionkey = None
        return answer

    # ---- calls ----------------------------------------------------------------------------------

    def query(self, command: str, params: dict[str, Any] | None, sign: bool) -> dict[str, str]:
        """The request's parameters, signed as the client is configured (as Client.raw does)."""
        return signed_query(self, command, params, sign)

    async def raw(self, command: str, params: dict[str, Any] | None = None, *, method: str | None = None,
                  sign: bool = True) -> tuple[int, str]:
        """Send one request; answer (HTTP status, body text)."""
        query = self.query(command, params, sign)
        if (method or self.method).upper() == "POST":
            sent = self.session().post(self.url, data=query)
        else:
            sent = self.session().get(self.url, params=query)
        async with sent as response:
            return response.status, await response.text()

    async def request(self, command: str, params: dict[str, Any] | None = None, *, method: str | None = None,
                      sign: bool = True) -> dict:
        """Call a command; answer the inner object of `<command>response` or raise CloudstackError."""
        status, text = await self.raw(command, params, method=method, sign=sign)
        return answer(command, status, text)

    async def __call__(self, command: str, **params: Any) -> dict:
        """Call a command, wait for its job if it answers one, and answer the object it returns."""
        inner = await self.request(command, params)
        if "jobid" in inner and set(inner) <= {"jobid", "id"}:
            inner = await self.wait(inner["jobid"], command)
        return unwrap(inner)

    async def list(self, command: str, key: str | None = None, **params: Any) -> list[dict]:
        inner = await self.request(command, params)
        key = key or items_key(inner)
        return inner.get(key, []) if key else []

    async def wait(self, jobid: str, command: str = "queryAsyncJobResult",
                   timeout: float | None = None) -> dict:
        """Poll a job with backoff until it finishes; answer `jobresult` or raise JobFailed."""
        timeout = timeout or self.job_timeout
        deadline = time.monotonic() + timeout
        delay = self.poll_interval
        while True:
            job = await self.request("queryAsyncJobResult", {"jobid": jobid})
            if job["jobstatus"] == 1:
                return job.get("jobresult", {})
            if job["jobstatus"] in (2, 3):
                raise JobFailed(command, jobid, job.get("jobresult", {}))
            if time.monotonic() > deadline:
                raise JobTimeout(f"job {jobid} ({command}) still pending after {timeout}s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)
