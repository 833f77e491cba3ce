"""The simulator hypervisor: hosts that exist only in the database, with CloudStack's fault injection.

Host URLs follow upstream's convention (spec/datacenter-config.md §6): `http://sim/<free>/<text>` whose
last path segment may carry `cpuspeed=..&cpucore=..&memory=..&localstorage=..&arch=..` overrides. Every
agent command first looks for a mock set by `configureSimulator` (host, then cluster, pod, zone scope)
and applies its `wait`, `result:fail`/`result:fault` and `jsonresponse`; otherwise it succeeds.
"""

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sqlalchemy import or_, select

from ..core.errors import InvalidParameter
from .base import AgentError, DiscoveredHost, register
from .models import SimulatorMock

DEFAULTS = {"cpuspeed": 8000, "cpucore": 4, "memory": 8 * 1024**3, "localstorage": 1024**4, "arch": "x86_64"}


def parse_url(url: str) -> dict[str, Any]:
    """Capacity overrides of a simulator host URL, or InvalidParameter when it is not one."""
    parts = urlsplit(unquote(url))
    if parts.scheme != "http" or not parts.netloc.lower().startswith("sim"):
        raise InvalidParameter(f"Invalid simulator host url {url}: it must look like http://sim/<cluster>/<host>")
    found = dict(DEFAULTS)
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if "=" in last:
        for key, value in parse_qsl(last, keep_blank_values=True):
            key = key.lower()
            if key not in DEFAULTS:
                continue
            if key == "arch":
                found[key] = value
                continue
            try:
                found[key] = int(value)
            except ValueError:
                raise InvalidParameter(f"Invalid value {value} for {key} in simulator host url {url}") from None
    return found


class SimulatorDriver:
    name = "Simulator"

    def discover(self, ctx, zone, pod, cluster, url, username, password) -> DiscoveredHost:
        spec = parse_url(url)
        host_uuid = str(uuid.uuid4())
        return DiscoveredHost(
            name=f"SimulatedAgent.{host_uuid}", cpus=spec["cpucore"], speed=spec["cpuspeed"],
            ram=spec["memory"], local_storage=spec["localstorage"], arch=spec["arch"],
            hypervisor_version="4.22.0.0", guid=host_uuid,
        )

    async def execute(self, ctx, host, command: str, **payload: Any) -> dict:
        mock = find_mock(ctx.db, host, command) if command in mocked_commands(ctx) else None
        if mock is None:
            return {"result": True, "details": None}
        settings = parse_values(mock.values)
        if mock.count is not None:
            mock.count -= 1
        # Commit the count now: the wait below must not hold a write transaction.
        ctx.commit()
        if "wait" in settings:
            await asyncio.sleep(int(settings["wait"]) / 1000)
        result = settings.get("result", "").lower()
        if result == "fail":
            raise AgentError(f"{command} failed on host {host.name}: Simulated failure")
        if result == "fault":
            raise AgentError(f"{command} failed on host {host.name}: java.lang.Exception: Simulated fault")
        if mock.json_response:
            answer = next(iter(json.loads(mock.json_response).values()), {})
            if isinstance(answer, dict) and answer.get("result") is False:
                raise AgentError(f"{command} failed on host {host.name}: {answer.get('details')}")
            return answer if isinstance(answer, dict) else {"result": True}
        return {"result": True, "details": None, **{k: v for k, v in settings.items()
                                                     if k in ("enabled", "timeout")}}


def parse_values(values: str) -> dict[str, str]:
    pairs = (item.split(":", 1) for item in values.split(";") if ":" in item)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def mocked_commands(ctx) -> set[str]:
    """Names of the agent commands that have a live mock (most have none): cached, so an unmocked command
    costs no query. configureSimulator and cleanupSimulatorMock invalidate it (ctx.touch)."""
    cache = ctx.server.caches.get("simulator")
    if "names" not in cache:
        cache["names"] = set(ctx.db.scalars(select(SimulatorMock.name).where(SimulatorMock.removed.is_(None))))
    return cache["names"]


def find_mock(db, host, command: str) -> SimulatorMock | None:
    """The most specific live mock for this command: host, then cluster, pod, zone."""
    candidates = db.scalars(select(SimulatorMock).where(
        SimulatorMock.name == command, SimulatorMock.removed.is_(None),
        or_(SimulatorMock.count.is_(None), SimulatorMock.count > 0),
        or_(SimulatorMock.zone_id.is_(None), SimulatorMock.zone_id == host.zone_id),
    )).all()
    best, best_rank = None, -1
    for mock in candidates:
        rank = scope_rank(mock, host)
        if rank > best_rank:
            best, best_rank = mock, rank
    return best


def scope_rank(mock: SimulatorMock, host) -> int:
    """How specifically a mock names this host (-1: it names another one)."""
    if mock.host_id is not None:
        return 4 if mock.host_id == host.id else -1
    if mock.cluster_id is not None:
        return 3 if mock.cluster_id == host.cluster_id else -1
    if mock.pod_id is not None:
        return 2 if mock.pod_id == host.pod_id else -1
    return 1 if mock.zone_id is not None else 0


register(SimulatorDriver())
