"""Build the datacenter a Marvin config describes (marvin/teardown.py takes it down again).

`Deployer` makes upstream's calls in upstream's order (spec/datacenter-config.md §5): global settings
first, then per zone the zone, its physical networks (traffic types, providers, enable), the guest network
of Basic / Advanced+SG zones, pods, clusters, hosts, primary storage, public ranges, staging and image
stores, zone-wide storage, enabling and zone details. Two things differ on purpose:

- it never sleeps a fixed time: after a cluster's hosts it polls listHosts until they are Up (deadline);
- it is idempotent: everything is looked up by name (hosts by URL, through the state file, or by the
  count of hosts in their cluster) before it is created, so a second run creates nothing.

What a run created and found goes to a JSON state file, in creation order, for `marvin teardown`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from .client import Client
from .configfile import Obj
from .errors import CloudstackError, JobTimeout

ROUTER_ELEMENTS = {  # provider → (list its element, configure its element)
    "VirtualRouter": ("listVirtualRouterElements", "configureVirtualRouterElement"),
    "VpcVirtualRouter": ("listVirtualRouterElements", "configureVirtualRouterElement"),
    "InternalLbVm": ("listInternalLoadBalancerElements", "configureInternalLoadBalancerElement"),
}
BUILT_IN_PROVIDERS = (*ROUTER_ELEMENTS, "SecurityGroupProvider", "ConfigDrive", "Ovs")
DEVICES = {  # provider → (add command, delete command, id parameter of the delete, url-style device)
    "Netscaler": ("addNetscalerLoadBalancer", "deleteNetscalerLoadBalancer", "lbdeviceid", True),
    "JuniperSRX": ("addSrxFirewall", "deleteSrxFirewall", "fwdeviceid", True),
    "F5BigIp": ("addF5LoadBalancer", "deleteF5LoadBalancer", "lbdeviceid", True),
    "NiciraNvp": ("addNiciraNvpDevice", "deleteNiciraNvpDevice", "nvpdeviceid", False),
    "NuageVsp": ("addNuageVspDevice", "deleteNuageVspDevice", "vspdeviceid", False),
}
BASIC_OFFERING = "DefaultSharedNetworkOfferingWithSGService"
EIP_OFFERING = "DefaultSharedNetscalerEIPandELBNetworkOffering"
BASIC_NETWORK, SG_NETWORK = "guestNetworkForBasicZone", "Shared SG enabled network"


class DeployError(Exception):
    """A step failed: `step` names it, the message carries the server's errortext."""

    def __init__(self, step: str, message: str):
        super().__init__(f"{step}: {message}")
        self.step = step


# ---- connecting -------------------------------------------------------------------------------------


def base_url(mgt: Obj) -> str:
    scheme = "https" if mgt.useHttps == "True" else "http"
    return f"{scheme}://{mgt.mgtSvrIp or 'localhost'}:{mgt.port or 8096}/client/api"


def connect(config: Obj, url: str | None = None, poll_interval: float = 0.01) -> Client:
    """A client for mgtSvr[0] (or `url`), authenticated as documented in configs/README.md:
    port 8096 → unsigned; apiKey+securityKey → signed; an endpoint that answers unsigned calls (an
    integration port on another number) → unsigned; else keys fetched or registered through the
    integration port 8096 of the same host; else a login session with user/passwd (admin/password)."""
    mgt = (config.mgtSvr or [Obj()])[0]
    url = url or base_url(mgt)
    options = {"poll_interval": poll_interval}
    if urlsplit(url).port == 8096:
        return tls(Client(url, **options), mgt)
    if mgt.apiKey and mgt.securityKey:
        return tls(Client(url, mgt.apiKey, mgt.securityKey, **options), mgt)
    if answers_unsigned(url):
        return Client(url, **options)
    keys = integration_keys(urlsplit(url).hostname or "localhost")
    if keys:
        return tls(Client(url, *keys, **options), mgt)
    return tls(Client(url, username=mgt.user or "admin", password=mgt.passwd or "password", **options), mgt)


def tls(client: Client, mgt: Obj) -> Client:
    if mgt.certCAPath and mgt.certCAPath != "NA":
        client.http.verify = mgt.certCAPath
    if mgt.certPath and mgt.certPath != "NA":
        client.http.cert = mgt.certPath
    return client


def answers_unsigned(url: str) -> bool:
    try:
        Client(url, timeout=5).request("listCapabilities")
        return True
    except CloudstackError:
        return False


def integration_keys(host: str) -> tuple[str, str] | None:
    """Marvin's bootstrap: the admin user's keys, registered when it has none."""
    try:
        system = Client(f"http://{host}:8096/client/api", timeout=5)
        user = system.list("listUsers", account="admin")[0]
        keys = system("getUserKeys", id=user["id"])
        if not keys.get("apikey"):
            keys = system("registerUserKeys", id=user["id"])
        return keys["apikey"], keys["secretkey"]
    except (requests.RequestException, CloudstackError, IndexError, KeyError):
        return None


def list_all(client: Client, command: str, **params: Any) -> list[dict]:
    """Every item of a list command. The first page is as large as the server allows (default.page.size),
    so later pages ask for that size; the total comes from `count`."""
    inner = client.request(command, params)
    key = next((k for k in inner if k != "count"), None)
    items: list[dict] = list(inner.get(key, [])) if key else []
    size, page = len(items), 1
    while items and len(items) < int(inner.get("count", 0)):
        page += 1
        inner = client.request(command, {**params, "page": page, "pagesize": size})
        batch = inner.get(key, [])
        if not batch:
            break
        items.extend(batch)
    return items


def named(items: list[dict], name: str, key: str = "name") -> dict | None:
    """The item whose field is exactly `name` (some list filters match substrings)."""
    return next((item for item in items if item.get(key) == name), None)


def first(answer: dict, key: str) -> dict:
    """addCluster/addHost answer a list of what they discovered: the first one."""
    if key in answer and isinstance(answer[key], list):
        return answer[key][0]
    return answer


def poll(check: Callable[[], Any], what: str, timeout: float, first_delay: float = 0.01,
         cap: float = 0.5) -> Any:
    """Call `check` until it answers something true; back off from 10 ms; DeployError at the deadline."""
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DeployError(what, f"not reached within {timeout:g} s")
        time.sleep(delay)
        delay = min(delay * 1.5, cap)


def is_unknown_command(client: Client, error: CloudstackError) -> bool:
    """432 is the unsigned answer to an unknown command; signed requests get 401, so ask listApis."""
    if error.errorcode == 432 and "Unknown API command" in error.errortext:
        return True
    if error.errorcode != 401:
        return False
    try:
        names = {api["name"] for api in client.list("listApis")}
    except CloudstackError:
        return False
    return error.command not in names


# ---- state file -------------------------------------------------------------------------------------


class State:
    """What a run created (action "created", "enabled") and found ("found"), in creation order."""

    FORMAT = "sandstack-dc-entries/1"

    def __init__(self, path: Path, config_path: str = "", zones: list[str] | None = None):
        self.path = path
        self.config_path = config_path
        self.zones = zones or []
        self.entries: list[dict] = []
        self.previous: list[dict] = read_entries(path)
        self._saved = 0.0
        self._interval = 0.5

    def record(self, kind: str, obj_id: str, name: str, action: str, **extra: Any) -> dict:
        entry = {"type": kind, "id": obj_id, "name": name, "action": action, **extra}
        self.entries.append(entry)
        self.save()
        return entry

    def previous_hosts(self, cluster_id: str) -> dict[str, str]:
        """url → host id of the hosts an earlier run recorded in a cluster."""
        return {e["url"]: e["id"] for e in self.previous
                if e["type"] == "Host" and e.get("clusterid") == cluster_id}

    def save(self, force: bool = False) -> None:
        # Rewriting the whole file on every entry would be quadratic on big configs: at most twice a second,
        # and always at the end (teardown from the config covers what a killed run did not write).
        if not force and time.monotonic() - self._saved < self._interval:
            return
        started = time.monotonic()
        seen = {(e["type"], e["id"]) for e in self.entries}
        # A rerun that stopped earlier than the run before it must not forget what that one recorded.
        entries = self.entries + [e for e in self.previous if (e["type"], e["id"]) not in seen]
        data = {"format": self.FORMAT, "config": self.config_path, "zones": self.zones, "entries": entries}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_name(self.path.name + ".tmp")
        scratch.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(scratch, self.path)  # a reader never sees half a file
        self._saved = time.monotonic()
        # Big states take a while to write: keep that under a tenth of the run's time.
        self._interval = max(0.5, 10 * (self._saved - started))


def read_state(path: Path) -> dict:
    if not path.exists():
        return {"zones": [], "entries": []}
    try:
        data = json.loads(path.read_text())
    except ValueError as error:
        raise DeployError(f"state file {path}", f"not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise DeployError(f"state file {path}", "not a deployer state file (no entries list)")
    return data


def read_entries(path: Path) -> list[dict]:
    return read_state(path)["entries"]


def default_state_path(config: Obj) -> Path:
    logger = config.logger if isinstance(config.logger, dict) else Obj()
    return Path(logger.LogFolderPath or ".") / "dc_entries.json"


# ---- progress ---------------------------------------------------------------------------------------


class Progress:
    """One line per step with its duration, or one redrawn progress bar line when writing to a terminal."""

    def __init__(self, out=None, quiet: bool = False, total: int = 0, bar: bool | None = None):
        self.out = out or sys.stdout
        self.quiet = quiet
        self.total = total
        self.bar = (not quiet) and (self.out.isatty() if bar is None else bar)
        self.done = 0
        self._drawn = 0.0

    def step(self, seconds: float, command: str, subject: str, outcome: str) -> None:
        self.done += 1
        text = f"{seconds:7.3f}s  {command} {subject} → {outcome}"
        if self.quiet:
            return
        if not self.bar:
            print(text, file=self.out, flush=True)
        elif time.monotonic() - self._drawn > 0.1 or self.done == self.total:
            self.draw(text)

    def draw(self, text: str) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        total = max(self.total, self.done)
        filled = int(30 * self.done / total) if total else 30
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{total} {text.strip()}"
        self.out.write("\r" + line[:width - 1].ljust(width - 1))
        self.out.flush()
        self._drawn = time.monotonic()

    def say(self, text: str) -> None:
        """A line that is always shown (warnings, failures, the summary)."""
        if self.bar and self._drawn:
            self.out.write("\n")
            self._drawn = 0.0
        print(text, file=self.out, flush=True)


class Steps:
    """Runs the API calls of one step, times it, reports it, and turns failures into DeployError."""

    def __init__(self, client: Client, progress: Progress, outcome: str = "done"):
        self.client = client
        self.progress = progress
        self.outcome = outcome  # what a step that says nothing else reports

    @contextlib.contextmanager
    def __call__(self, command: str, subject: str, needs: str = "") -> Iterator[dict]:
        note = {"outcome": self.outcome, "command": command}
        started = time.perf_counter()
        try:
            yield note
        except CloudstackError as error:
            self.progress.step(time.perf_counter() - started, note["command"], subject, "FAILED")
            raise self.failure(note["command"], subject, needs, error) from None
        except JobTimeout as error:
            raise DeployError(f"{note['command']} {subject}", str(error)) from None
        self.progress.step(time.perf_counter() - started, note["command"], subject, note["outcome"])

    def failure(self, command: str, subject: str, needs: str, error: CloudstackError) -> DeployError:
        step = f"{command} {subject}".strip()
        if is_unknown_command(self.client, error):
            why = f"{needs}; this server" if needs else "this server"
            return DeployError(step, f"{why} does not offer {error.command} ({error.errorcode} "
                                     f"{error.errortext})")
        return DeployError(step, f"{error.command} answered {error.errorcode}: {error.errortext}")


# ---- deploying --------------------------------------------------------------------------------------


def plan_size(config: Obj, zones: list[Obj]) -> int:
    """Roughly how many steps a deploy makes (for the progress bar)."""
    total = len(config.globalConfig or [])
    for zone in zones:
        total += 4 + len(zone.ipranges or []) + len(zone.secondaryStorages or []) \
            + len(zone.cacheStorages or []) + len(zone.primaryStorages or [])
        for network in zone.physical_networks or []:
            total += 2 + len(network.traffictypes or []) + len(network.providers or [])
        for pod in zone.pods or []:
            total += 1 + len(pod.guestIpRanges or [])
            for cluster in pod.clusters or []:
                total += 2 + len(cluster.hosts or []) + len(cluster.primaryStorages or [])
    return total


class Deployer:
    def __init__(self, client: Client, config: Obj, state: State, progress: Progress,
                 host_timeout: float = 120):
        self.client = client
        self.config = config
        self.state = state
        self.progress = progress
        self.step = Steps(client, progress, outcome="created")
        self.host_timeout = host_timeout

    def run(self, zone_names: list[str] | None = None) -> dict:
        started = time.perf_counter()
        zones = select_zones(self.config, zone_names)
        self.progress.total = plan_size(self.config, zones)
        try:
            self.global_settings()
            for zone in zones:
                self.zone(zone)
            for zone in zones:
                if zone.baremetalrcturl:
                    with self.step("addBaremetalRct", zone.baremetalrcturl):
                        self.client("addBaremetalRct", baremetalrcturl=zone.baremetalrcturl)
            if self.config.s3:
                with self.step("addS3", self.config.s3.bucket or "", needs="the legacy s3 section"):
                    self.client("addS3", **self.config.s3)
        finally:
            self.state.save(force=True)
        return self.summary(time.perf_counter() - started)

    def summary(self, seconds: float) -> dict:
        counts = {"created": 0, "enabled": 0, "found": 0}
        for entry in self.state.entries:
            counts[entry["action"]] = counts.get(entry["action"], 0) + 1
        return {**counts, "seconds": seconds, "state": str(self.state.path)}

    # ---- global settings and zones -----------------------------------------------------------------

    def global_settings(self) -> None:
        wanted = self.config.globalConfig or []
        if not wanted:
            return
        with self.step("listConfigurations", f"({len(wanted)} to set)") as note:
            current = {c["name"]: c.get("value") for c in list_all(self.client, "listConfigurations")}
            note["outcome"] = f"{len(current)} settings"
        for setting in wanted:
            with self.step("updateConfiguration", f"{setting.name}={setting.value}") as note:
                if current.get(setting.name) == str(setting.value):
                    note["outcome"] = "unchanged"
                    continue
                self.client("updateConfiguration", name=setting.name, value=str(setting.value))
                note["outcome"] = "set"

    def zone(self, zone: Obj) -> None:
        row, fresh = self.ensure_zone(zone)
        zone_id = row["id"]
        for network in zone.physical_networks or []:
            self.physical_network(zone_id, network, fresh)
        kind = zone_kind(zone)
        network_id = None
        if kind in ("Basic", "AdvancedSG"):
            network_id = self.guest_network(zone, zone_id, kind, fresh)
        for pod in zone.pods or []:
            self.pod(zone_id, pod, network_id, fresh)
        if kind == "Advanced" or (kind == "Basic" and carries_public(zone)):
            self.public_ranges(zone, zone_id, fresh)
        self.staging_stores(zone, zone_id, fresh)
        self.image_stores(zone, zone_id)
        for pool in zone.primaryStorages or []:
            self.storage_pool(zone_id, None, None, pool, fresh, zone_wide=True)
        self.enable_zone(zone, row)
        self.zone_details(zone, row)

    def ensure_zone(self, zone: Obj) -> tuple[dict, bool]:
        with self.step("createZone", zone.name) as note:
            existing = named(self.client.list("listZones", name=zone.name), zone.name)
            if existing:
                note["outcome"] = "exists"
                self.state.record("Zone", existing["id"], zone.name, "found", zoneid=existing["id"])
                return existing, False
            row = self.client("createZone", **zone_params(zone))
            self.state.record("Zone", row["id"], zone.name, "created", zoneid=row["id"])
            return row, True

    def enable_zone(self, zone: Obj, row: dict) -> None:
        if zone.enabled is not None and zone.enabled != "True":
            return  # upstream leaves the zone Disabled for any other value, "true" included
        with self.step("updateZone", f"{zone.name} allocationstate=Enabled") as note:
            current = self.client.list("listZones", id=row["id"])[0]
            action = "found" if current["allocationstate"] == "Enabled" else "enabled"
            if action == "enabled":
                self.client("updateZone", id=row["id"], allocationstate="Enabled")
            note["outcome"] = "already Enabled" if action == "found" else "Enabled"
            self.state.record("ZoneEnabled", row["id"], zone.name, action, zoneid=row["id"])

    def zone_details(self, zone: Obj, row: dict) -> None:
        if not zone.details:
            return
        with self.step("updateZone", f"{zone.name} details") as note:
            wanted = {k: str(v) for item in zone.details for k, v in item.items()}
            current = self.client.list("listZones", id=row["id"])[0].get("details") or {}
            if all(current.get(k) == v for k, v in wanted.items()):
                note["outcome"] = "unchanged"
                return
            self.client("updateZone", id=row["id"], details=[{k: v} for k, v in wanted.items()])
            note["outcome"] = ", ".join(f"{k}={v}" for k, v in wanted.items())

    # ---- physical networks ----------------------------------------------------------------------

    def physical_network(self, zone_id: str, network: Obj, zone_fresh: bool) -> None:
        with self.step("createPhysicalNetwork", network.name) as note:
            existing = None if zone_fresh else named(
                self.client.list("listPhysicalNetworks", zoneid=zone_id, name=network.name), network.name)
            if existing:
                note["outcome"] = "exists"
                row, action = existing, "found"
            else:
                row = self.client("createPhysicalNetwork", zoneid=zone_id, name=network.name,
                                  isolationmethods=network.isolationmethods, tags=network.tags)
                action = "created"
                note["outcome"] = row.get("state", "created")
            self.state.record("PhysicalNetwork", row["id"], network.name, action, zoneid=zone_id)
        self.traffic_types(zone_id, row["id"], network, action == "created")
        for provider in network.providers or []:
            self.provider(zone_id, row["id"], provider)
        self.enable_physical_network(zone_id, row, network)

    def traffic_types(self, zone_id: str, network_id: str, network: Obj, fresh: bool) -> None:
        existing = {} if fresh else {t["traffictype"]: t for t in
                                     self.client.list("listTrafficTypes", physicalnetworkid=network_id)}
        for traffic in network.traffictypes or []:
            with self.step("addTrafficType", f"{traffic.typ} on {network.name}") as note:
                found = existing.get(traffic.typ)
                if found:
                    note["outcome"] = "exists"
                    self.state.record("TrafficType", found["id"], traffic.typ, "found", zoneid=zone_id)
                    continue
                row = self.client("addTrafficType", physicalnetworkid=network_id, traffictype=traffic.typ,
                                  kvmnetworklabel=traffic.kvm, xennetworklabel=traffic.xen,
                                  vmwarenetworklabel=traffic.vmware, simulatorlabel=traffic.simulator)
                self.state.record("TrafficType", row["id"], traffic.typ, "created", zoneid=zone_id)

    def provider(self, zone_id: str, network_id: str, provider: Obj) -> None:
        with self.step("updateNetworkServiceProvider", f"{provider.name} state=Enabled") as note:
            nsp = named(self.client.list("listNetworkServiceProviders", physicalnetworkid=network_id,
                                         name=provider.name), provider.name)
            if nsp and nsp["state"] == "Enabled":
                note["outcome"] = "already Enabled"
                self.state.record("NetworkServiceProvider", nsp["id"], provider.name, "found", zoneid=zone_id)
                return
            if provider.name in BUILT_IN_PROVIDERS:
                if nsp is None:  # upstream skips it silently; say so
                    note["outcome"] = "not offered by this server, skipped"
                    return
                self.enable_built_in(nsp, provider.name)
                self.state.record("NetworkServiceProvider", nsp["id"], provider.name, "enabled",
                                  zoneid=zone_id)
            else:
                self.enable_external(zone_id, network_id, nsp, provider, note)
            note["outcome"] = "Enabled"

    def enable_built_in(self, nsp: dict, name: str) -> None:
        if name in ROUTER_ELEMENTS:
            list_command, configure = ROUTER_ELEMENTS[name]
            element = self.client.list(list_command, nspid=nsp["id"])[0]
            self.client(configure, id=element["id"], enabled=True)
        self.client("updateNetworkServiceProvider", id=nsp["id"], state="Enabled")

    def enable_external(self, zone_id: str, network_id: str, nsp: dict | None, provider: Obj,
                        note: dict) -> None:
        """Netscaler, JuniperSRX, F5BigIp, NiciraNvp, Contrail, ...: add the provider, its devices, enable."""
        if nsp is None:
            note["command"] = "addNetworkServiceProvider"
            nsp = self.client("addNetworkServiceProvider", name=provider.name, physicalnetworkid=network_id)
            self.state.record("NetworkServiceProvider", nsp["id"], provider.name, "created", zoneid=zone_id)
        add, delete, id_param, url_style = DEVICES.get(provider.name, (None, None, None, False))
        for device in provider.devices or []:
            note["command"] = add
            params = {"physicalnetworkid": network_id, **device}
            if url_style:
                # Upstream's device URL: http://<hostname>?<every field k=v joined by &>
                query = "&".join(f"{k}={v}" for k, v in device.items())
                params = {"physicalnetworkid": network_id, "url": f"http://{device.hostname}?{query}",
                          "username": device.username, "password": device.password,
                          "networkdevicetype": device.networkdevicetype}
            row = self.client(add, **params)
            device_id = row.get(id_param) or row.get("id")
            self.state.record(add[3:], device_id, device.hostname or "", "created", zoneid=zone_id,
                              delete=[delete, id_param])
        note["command"] = "updateNetworkServiceProvider"
        self.client("updateNetworkServiceProvider", id=nsp["id"], state="Enabled")

    def enable_physical_network(self, zone_id: str, row: dict, network: Obj) -> None:
        with self.step("updatePhysicalNetwork", f"{network.name} state=Enabled"
                       + (f" vlan={network.vlan}" if network.vlan else "")) as note:
            if row.get("state") == "Enabled" and (not network.vlan or row.get("vlan") == network.vlan):
                note["outcome"] = "already Enabled"
                return
            self.client("updatePhysicalNetwork", id=row["id"], state="Enabled", vlan=network.vlan)
            note["outcome"] = "Enabled"

    # ---- guest network (Basic, Advanced with security groups) -----------------------------------

    def guest_network(self, zone: Obj, zone_id: str, kind: str, fresh: bool) -> str:
        needs = f"the guest network of {kind} zone {zone.name!r} needs listNetworkOfferings and createNetwork"
        offering_name = zone.networkofferingname or (EIP_OFFERING if carries_public(zone) else BASIC_OFFERING)
        with self.step("listNetworkOfferings", offering_name, needs=needs) as note:
            offering = named(self.client.list("listNetworkOfferings", name=offering_name), offering_name)
            if offering is None:
                raise DeployError(f"listNetworkOfferings {offering_name}",
                                  "no network offering has that name")
            note["outcome"] = "found"
        name = BASIC_NETWORK if kind == "Basic" else SG_NETWORK
        with self.step("createNetwork", name, needs=needs) as note:
            existing = None if fresh else named(
                self.client.list("listNetworks", zoneid=zone_id, keyword=name, listall=True), name)
            if existing:
                note["outcome"] = "exists"
                self.state.record("Network", existing["id"], name, "found", zoneid=zone_id)
                return existing["id"]
            params = {"name": name, "displaytext": name, "networkofferingid": offering["id"],
                      "zoneid": zone_id}
            if kind == "AdvancedSG":  # upstream pops the last zone range for the shared network
                last = zone.ipranges[-1]
                params.update(startip=last.startip, endip=last.endip, gateway=last.gateway,
                              netmask=last.netmask, vlan=last.vlan)
            row = self.client("createNetwork", **params)
            self.state.record("Network", row["id"], name, "created", zoneid=zone_id)
            return row["id"]

    # ---- pods, clusters, hosts, storage ----------------------------------------------------------

    def pod(self, zone_id: str, pod: Obj, network_id: str | None, zone_fresh: bool) -> None:
        with self.step("createPod", pod.name) as note:
            existing = None if zone_fresh else named(
                self.client.list("listPods", zoneid=zone_id, name=pod.name), pod.name)
            if existing:
                note["outcome"] = "exists"
                row, action = existing, "found"
            else:
                row = self.client("createPod", zoneid=zone_id, name=pod.name, gateway=pod.gateway,
                                  netmask=pod.netmask, startip=pod.startip, endip=pod.endip)
                action = "created"
            self.state.record("Pod", row["id"], pod.name, action, zoneid=zone_id)
        fresh = action == "created"
        if network_id:
            for iprange in pod.guestIpRanges or []:
                self.ip_range(zone_id, iprange, fresh, public=False, podid=row["id"], networkid=network_id)
        if pod.vmwaredc:
            self.vmware_dc(zone_id, pod.vmwaredc)
        for cluster in pod.clusters or []:
            self.cluster(zone_id, row["id"], cluster, fresh)

    def vmware_dc(self, zone_id: str, dc: Obj) -> None:
        with self.step("addVmwareDc", dc.name or "") as note:
            existing = named(self.client.list("listVmwareDcs", zoneid=zone_id), dc.name)
            if existing:
                note["outcome"] = "exists"
                return
            row = self.client("addVmwareDc", zoneid=zone_id, name=dc.name, vcenter=dc.vcenter,
                              username=dc.username, password=dc.password)
            self.state.record("VmwareDc", row.get("id", zone_id), dc.name or "", "created", zoneid=zone_id,
                              delete=["removeVmwareDc", "zoneid", zone_id])

    def cluster(self, zone_id: str, pod_id: str, cluster: Obj, pod_fresh: bool) -> None:
        with self.step("addCluster", cluster.clustername) as note:
            existing = None if pod_fresh else named(
                self.client.list("listClusters", podid=pod_id, name=cluster.clustername), cluster.clustername)
            if existing:
                note["outcome"] = "exists"
                row, action = existing, "found"
            else:
                row = first(self.client("addCluster", zoneid=zone_id, podid=pod_id,
                                        clustername=cluster.clustername,
                                        clustertype=cluster.clustertype or "CloudManaged",
                                        hypervisor=cluster.hypervisor, url=cluster.url,
                                        username=cluster.username, password=cluster.password), "cluster")
                action = "created"
            self.state.record("Cluster", row["id"], cluster.clustername, action, zoneid=zone_id)
        hypervisor = str(cluster.hypervisor).lower()
        if hypervisor != "vmware":  # vCenter discovers VMware hosts itself
            self.hosts(zone_id, pod_id, row["id"], cluster, action == "created")
        if hypervisor != "baremetal":
            for pool in cluster.primaryStorages or []:
                self.storage_pool(zone_id, pod_id, row["id"], pool, action == "created")

    def hosts(self, zone_id: str, pod_id: str, cluster_id: str, cluster: Obj, fresh: bool) -> None:
        hosts = cluster.hosts or []
        if not hosts:
            return
        unclaimed = self.existing_hosts(cluster_id, hosts) if not fresh else {}
        for host in hosts:
            with self.step("addHost", host.url) as note:
                known = unclaimed.pop(host.url, None)
                if known:
                    note["outcome"] = f"exists ({known['state']})"
                    self.state.record("Host", known["id"], known["name"], "found", zoneid=zone_id,
                                      clusterid=cluster_id, url=host.url)
                    continue
                row = first(self.client("addHost", **host_params(zone_id, pod_id, cluster_id, cluster, host)),
                            "host")
                note["outcome"] = row.get("state", "added")
                self.state.record("Host", row["id"], row["name"], "created", zoneid=zone_id,
                                  clusterid=cluster_id, url=host.url)
        self.wait_for_hosts(zone_id, cluster_id, cluster.clustername, len(hosts))

    def existing_hosts(self, cluster_id: str, hosts: list[Obj]) -> dict[str, dict]:
        """url → host of the cluster's hosts that stand for configured URLs. listHosts answers no URL: a
        host recorded in the state file is matched by id, the others by order (the cluster's first
        hosts stand for the first configured URLs the state file does not know)."""
        rows = list_all(self.client, "listHosts", clusterid=cluster_id)
        by_id = {row["id"]: row for row in rows}
        claimed: dict[str, dict] = {}
        for url, host_id in self.state.previous_hosts(cluster_id).items():
            if host_id in by_id:
                claimed[url] = by_id.pop(host_id)
        spare = iter(by_id.values())
        for host in hosts:
            if host.url not in claimed:
                row = next(spare, None)
                if row is None:
                    break
                claimed[host.url] = row
        return claimed

    def wait_for_hosts(self, zone_id: str, cluster_id: str, name: str, count: int) -> None:
        with self.step("listHosts", f"{name} until {count} Up") as note:
            def all_up():
                rows = list_all(self.client, "listHosts", zoneid=zone_id, clusterid=cluster_id)
                return len(rows) >= count and all(row["state"] == "Up" for row in rows) and rows
            rows = poll(all_up, f"hosts of cluster {name} Up", self.host_timeout)
            note["outcome"] = f"{len(rows)} Up"

    def storage_pool(self, zone_id: str, pod_id: str | None, cluster_id: str | None, pool: Obj, fresh: bool,
                     zone_wide: bool = False) -> None:
        zone_wide = zone_wide or str(pool.scope or "").lower() == "zone"
        with self.step("createStoragePool", pool.name) as note:
            where = {"zoneid": zone_id, "scope": "zone"} if zone_wide else {"clusterid": cluster_id}
            existing = None if fresh else named(self.client.list("listStoragePools", name=pool.name, **where),
                                                pool.name)
            if existing:
                note["outcome"] = f"exists ({existing.get('state')})"
                self.state.record("StoragePool", existing["id"], pool.name, "found", zoneid=zone_id)
                return
            params = {"zoneid": zone_id, "name": pool.name, "url": pool.url, "tags": pool.tags,
                      "details": [pool.details] if pool.details else None}
            if zone_wide:
                params.update(scope="zone", hypervisor=pool.hypervisor)
            else:
                params.update(podid=pod_id, clusterid=cluster_id, scope=pool.scope,
                              hypervisor=pool.hypervisor)
            row = self.client("createStoragePool", **params)
            note["outcome"] = row.get("state", "created")
            self.state.record("StoragePool", row["id"], pool.name, "created", zoneid=zone_id)

    # ---- IP ranges and secondary storage ---------------------------------------------------------

    def public_ranges(self, zone: Obj, zone_id: str, fresh: bool) -> None:
        for iprange in zone.ipranges or []:
            self.ip_range(zone_id, iprange, fresh, public=True, account=iprange.account,
                          domainid=iprange.domainid)

    def ip_range(self, zone_id: str, iprange: Obj, fresh: bool, public: bool, **extra: Any) -> None:
        label = f"{iprange.startip}-{iprange.endip}"
        with self.step("createVlanIpRange", label) as note:
            if not fresh:
                where = {"podid": extra["podid"]} if extra.get("podid") else {}
                rows = list_all(self.client, "listVlanIpRanges", zoneid=zone_id, **where)
                found = next((r for r in rows if (r.get("startip"), r.get("endip")) ==
                              (iprange.startip, iprange.endip)), None)
                if found:
                    note["outcome"] = "exists"
                    self.state.record("VlanIpRange", found["id"], label, "found", zoneid=zone_id)
                    return
            row = self.client("createVlanIpRange", zoneid=zone_id, startip=iprange.startip,
                              endip=iprange.endip, gateway=iprange.gateway, netmask=iprange.netmask,
                              vlan=iprange.vlan, forvirtualnetwork=public, **extra)
            self.state.record("VlanIpRange", row["id"], label, "created", zoneid=zone_id)

    def staging_stores(self, zone: Obj, zone_id: str, fresh: bool) -> None:
        for store in zone.cacheStorages or []:
            with self.step("createSecondaryStagingStore", store.url) as note:
                rows = [] if fresh else self.client.list("listSecondaryStagingStores", zoneid=zone_id)
                found = named(rows, store.url, key="url")
                if found:
                    note["outcome"] = "exists"
                    self.state.record("StagingStore", found["id"], store.url, "found", zoneid=zone_id)
                    continue
                row = self.client("createSecondaryStagingStore", url=store.url, provider=store.provider,
                                  zoneid=zone_id, details=store.details)
                self.state.record("StagingStore", row["id"], store.url, "created", zoneid=zone_id)

    def image_stores(self, zone: Obj, zone_id: str) -> None:
        for store in zone.secondaryStorages or []:
            in_zone = store.provider in ("NFS", "SMB")  # S3 and Swift stores are region-wide
            with self.step("addImageStore", store.name or store.url or store.provider) as note:
                # Looked up even in a new zone: the URL of an image store is unique across zones.
                rows = self.client.list("listImageStores", zoneid=zone_id if in_zone else None)
                found = (named(rows, store.url, key="url") if store.url else None) \
                    or (named(rows, store.name) if store.name else None)
                if found:
                    note["outcome"] = "exists"
                    self.state.record("ImageStore", found["id"], found["name"], "found", zoneid=zone_id)
                    continue
                row = self.client("addImageStore", url=store.url, provider=store.provider, name=store.name,
                                  zoneid=zone_id if in_zone else None, details=store.details)
                self.state.record("ImageStore", row["id"], row.get("name") or store.url, "created",
                                  zoneid=zone_id)


def select_zones(config: Obj, names: list[str] | None) -> list[Obj]:
    zones = config.zones or []
    if not names:
        return zones
    unknown = [name for name in names if name not in {z.name for z in zones}]
    if unknown:
        raise DeployError("--zone", f"the config names no zone {', '.join(map(repr, unknown))}")
    return [z for z in zones if z.name in names]


def zone_kind(zone: Obj) -> str:
    if zone.networktype == "Basic":
        return "Basic"
    return "AdvancedSG" if zone.securitygroupenabled == "true" else "Advanced"


def carries_public(zone: Obj) -> bool:
    return any(t.typ == "Public" for n in zone.physical_networks or [] for t in n.traffictypes or [])


def zone_params(zone: Obj) -> dict:
    sg = zone.securitygroupenabled == "true"
    params = {"name": zone.name, "networktype": zone.networktype, "dns1": zone.dns1, "dns2": zone.dns2,
              "internaldns1": zone.internaldns1, "internaldns2": zone.internaldns2, "domain": zone.domain,
              "localstorageenabled": zone.localstorageenabled, "securitygroupenabled": "true" if sg else None}
    if zone.networktype == "Advanced" and not sg:
        params["guestcidraddress"] = zone.guestcidraddress  # sent only without security groups, as upstream
    return params


def host_params(zone_id: str, pod_id: str, cluster_id: str, cluster: Obj, host: Obj) -> dict:
    params = {"zoneid": zone_id, "podid": pod_id, "clusterid": cluster_id, "hypervisor": cluster.hypervisor,
              "url": host.url, "username": host.username, "password": host.password,
              "hosttags": host.hosttags}
    if str(cluster.hypervisor).lower() == "baremetal":
        params.update(hostmac=host.hostmac, cpunumber=host.cpunumber, cpuspeed=host.cpuspeed,
                      memory=host.memory)
    return params


# ---- entry point (used by the CLI and bench/deploy.py) --------------------------------------------


def check_state_owner(state_path: Path, names: list[str]) -> None:
    """A state file written for other zones is neither overwritten nor torn down with this config."""
    strangers = [z for z in read_state(state_path).get("zones") or [] if z not in names]
    if strangers:
        raise DeployError(f"state file {state_path}",
                          f"it records zones this config does not name ({', '.join(strangers)}); "
                          "choose another with --state")


def deploy(config: Obj, client: Client, state_path: Path, progress: Progress, *, config_path: str = "",
           zones: list[str] | None = None, host_timeout: float = 120) -> dict:
    names = [z.name for z in config.zones or []]
    check_state_owner(state_path, names)
    state = State(state_path, config_path, names)
    return Deployer(client, config, state, progress, host_timeout).run(zones)
