"""The hypervisor interface orchestration talks to; it never knows which hypervisor is behind it.

Every operation on a host is an *agent command* named as CloudStack's agent protocol names it
(StartCommand, StopCommand, RebootCommand, MigrateCommand, CreateCommand, CopyCommand, PingCommand,
ReadyCommand, CheckHealthCommand, ...). A driver answers a dict (the Answer) or raises AgentError.
Drivers are awaited: callers commit their transaction before calling one (see Context.commit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..core.errors import ApiError


class AgentError(ApiError):
    """An agent command failed on the host (upstream: the Answer's result was false)."""

    errorcode = 530
    cserrorcode = 4250


class AgentUnavailable(ApiError):
    errorcode = 530
    cserrorcode = 4285


@dataclass(slots=True)
class DiscoveredHost:
    """What a driver learns about a host when it is added."""

    name: str
    cpus: int
    speed: int  # MHz
    ram: int  # bytes
    local_storage: int  # bytes
    arch: str = "x86_64"
    private_ip: str | None = None
    hypervisor_version: str | None = None
    capabilities: str = "hvm"
    guid: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class HypervisorDriver(Protocol):
    name: str

    def discover(self, ctx, zone, pod, cluster, url: str, username: str | None,
                 password: str | None) -> DiscoveredHost:
        """Check a host URL and report its capacity (addHost), or raise InvalidParameter."""

    async def execute(self, ctx, host, command: str, **payload: Any) -> dict:
        """Send one agent command to a host; answer its Answer or raise AgentError."""


_DRIVERS: dict[str, HypervisorDriver] = {}


def register(driver: HypervisorDriver) -> HypervisorDriver:
    _DRIVERS[driver.name.lower()] = driver
    return driver


def driver_for(hypervisor: str) -> HypervisorDriver:
    from . import simulator  # noqa: F401  (registers itself)

    driver = _DRIVERS.get((hypervisor or "").lower())
    if driver is None:
        from ..core.errors import InvalidParameter

        raise InvalidParameter(f"Hypervisor {hypervisor} is not supported by this management server")
    return driver
