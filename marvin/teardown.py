"""Take down what `marvin deploy` built: the objects its state file records, in reverse creation order, then
whatever list commands still find in the zones the config names — which also works without a state file
and removes a half-finished deploy completely.

Zones are disabled and their system VMs destroyed first, so the server does not start new ones while their
hosts go. Hosts and storage pools are put in maintenance and polled (never slept on) before deletion.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .client import Client
from .configfile import Obj
from .deployer import (
    BUILT_IN_PROVIDERS,
    DeployError,
    Progress,
    Steps,
    check_state_owner,
    is_unknown_command,
    list_all,
    poll,
    read_entries,
    select_zones,
)
from .errors import CloudstackError, JobTimeout

GONE = "entity does not exist"  # the server's 431 text for an id that no longer exists
SYSTEM_VM_BUSY = ("Starting", "Stopping", "Migrating")


class Teardown:
    """Removes what a deploy made: from the state file (reverse creation order), then whatever is left
    in the zones the config names (found with list commands). Failures are reported, not fatal: the
    sweep after the state walk often removes what an out-of-order delete could not."""

    def __init__(self, client: Client, progress: Progress, timeout: float = 60):
        self.client = client
        self.progress = progress
        self.timeout = timeout
        self.step = Steps(client, progress, outcome="deleted")
        self.errors: list[str] = []
        self.quiesced: set[str] = set()

    def run(self, entries: list[dict], zone_names: list[str]) -> list[str]:
        """Tear down; answer what is left of the named zones (empty when everything is gone)."""
        zone_ids = {e["zoneid"] for e in entries if e.get("type") == "Zone"}
        zone_ids |= {z["id"] for name in zone_names for z in self.zones_named(name)}
        for zone_id in sorted(zone_ids):
            self.attempt(lambda zid=zone_id: self.quiesce(zid))
        for entry in reversed(entries):
            self.attempt(lambda e=entry: self.remove(e))
        for name in zone_names:
            for zone in self.zones_named(name):
                self.attempt(lambda z=zone: self.sweep(z))
        return [f"zone {name} still exists" for name in zone_names if self.zones_named(name)]

    def attempt(self, action: Callable[[], None]) -> None:
        try:
            action()
        except (DeployError, CloudstackError, JobTimeout) as error:
            self.errors.append(str(error))
            self.progress.say(f"  (continuing) {error}")

    def rows(self, command: str, **params: Any) -> list[dict]:
        """A list by id that answers [] when the id no longer exists (the server answers 431 then)."""
        try:
            return self.client.list(command, **params)
        except CloudstackError as error:
            if error.errorcode == 431 and GONE in error.errortext:
                return []
            raise

    def zones_named(self, name: str) -> list[dict]:
        return [z for z in self.client.list("listZones", name=name) if z["name"] == name]

    def call(self, command: str, subject: str, outcome: str = "deleted", **params: Any) -> bool:
        """One delete-like call as a step; False when the object is already gone."""
        with self.step(command, subject) as note:
            note["outcome"] = outcome
            try:
                self.client(command, **params)
            except CloudstackError as error:
                if error.errorcode == 431 and GONE in error.errortext:
                    note["outcome"] = "already gone"
                    return False
                raise
        return True

    def quiesce(self, zone_id: str) -> None:
        """Disable the zone (so no system VM is recreated), then destroy its system VMs; once per zone."""
        zones = [] if zone_id in self.quiesced else self.rows("listZones", id=zone_id)
        if not zones:
            return
        self.quiesced.add(zone_id)
        if zones[0]["allocationstate"] == "Enabled":
            self.call("updateZone", f"{zones[0]['name']} allocationstate=Disabled", "Disabled", id=zone_id,
                      allocationstate="Disabled")

        def destroyed() -> bool:
            vms = self.client.list("listSystemVms", zoneid=zone_id)
            for vm in vms:
                if vm["state"] not in SYSTEM_VM_BUSY:
                    self.call("destroySystemVm", vm["name"], "destroyed", id=vm["id"])
            return not vms
        with self.step("listSystemVms", f"of {zones[0]['name']} until none") as note:
            poll(destroyed, f"system VMs of zone {zones[0]['name']} destroyed", self.timeout)
            note["outcome"] = "none left"

    def remove(self, entry: dict) -> None:
        kind, obj_id, name = entry["type"], entry["id"], entry.get("name", "")
        simple = {"Pod": "deletePod", "Cluster": "deleteCluster", "VlanIpRange": "deleteVlanIpRange",
                  "ImageStore": "deleteImageStore", "StagingStore": "deleteSecondaryStagingStore",
                  "TrafficType": "deleteTrafficType", "Network": "deleteNetwork"}
        if kind == "Host":
            self.remove_host(obj_id, name)
        elif kind == "StoragePool":
            self.remove_pool(obj_id, name)
        elif kind == "PhysicalNetwork":
            self.remove_physical_network(obj_id, name)
        elif kind == "Zone":
            self.quiesce(obj_id)
            self.call("deleteZone", name, id=obj_id)
        elif kind == "ZoneEnabled":
            self.quiesce(obj_id)
        elif kind == "NetworkServiceProvider":
            self.remove_provider(obj_id, name)
        elif kind in simple:
            self.call(simple[kind], name, id=obj_id)
        elif entry.get("delete"):
            command, param, *value = entry["delete"]
            self.call(command, name, **{param: value[0] if value else obj_id})

    def remove_provider(self, nsp_id: str, name: str) -> None:
        if name not in BUILT_IN_PROVIDERS:
            self.call("deleteNetworkServiceProvider", name, id=nsp_id)
            return
        # Built-in providers live as long as their physical network: only switched off here.
        found = [p for p in self.client.list("listNetworkServiceProviders", name=name) if p["id"] == nsp_id]
        if found and found[0]["state"] == "Enabled":
            self.call("updateNetworkServiceProvider", f"{name} state=Disabled", "Disabled", id=nsp_id,
                      state="Disabled")

    def remove_host(self, host_id: str, name: str) -> None:
        rows = self.rows("listHosts", id=host_id)
        if not rows:
            return
        if rows[0]["resourcestate"] != "Maintenance":
            with self.step("prepareHostForMaintenance", name) as note:
                answer = self.client("prepareHostForMaintenance", id=host_id)
                if answer.get("resourcestate") != "Maintenance":
                    poll(lambda: self.host_state(host_id) in ("Maintenance", "ErrorInMaintenance", None),
                         f"host {name} in Maintenance", self.timeout)
                note["outcome"] = self.host_state(host_id) or "gone"
        self.call("deleteHost", name, id=host_id, forced=True)

    def host_state(self, host_id: str) -> str | None:
        rows = self.rows("listHosts", id=host_id)
        return rows[0]["resourcestate"] if rows else None

    def remove_pool(self, pool_id: str, name: str) -> None:
        rows = self.rows("listStoragePools", id=pool_id)
        if not rows:
            return
        if rows[0]["state"] != "Maintenance":
            with self.step("enableStorageMaintenance", name) as note:
                answer = self.client("enableStorageMaintenance", id=pool_id)
                if answer.get("state") != "Maintenance":
                    poll(lambda: self.rows("listStoragePools", id=pool_id)[0]["state"] == "Maintenance",
                         f"storage pool {name} in Maintenance", self.timeout)
                note["outcome"] = "Maintenance"
        self.call("deleteStoragePool", name, id=pool_id, forced=True)

    def remove_physical_network(self, network_id: str, name: str) -> None:
        rows = self.rows("listPhysicalNetworks", id=network_id)
        if not rows:
            return
        if rows[0]["state"] == "Enabled":
            self.call("updatePhysicalNetwork", f"{name} state=Disabled", "Disabled", id=network_id,
                      state="Disabled")
        self.call("deletePhysicalNetwork", name, id=network_id)

    def sweep(self, zone: dict) -> None:
        """Everything left in a zone, innermost first, then the zone."""
        zone_id = zone["id"]
        self.quiesce(zone_id)
        with contextlib.suppress(DeployError):  # no guest networks before the server offers them
            for network in self.quietly("listNetworks", zoneid=zone_id, listall=True):
                self.call("deleteNetwork", network["name"], id=network["id"])
        for host in list_all(self.client, "listHosts", zoneid=zone_id):
            self.remove_host(host["id"], host["name"])
        for pool in list_all(self.client, "listStoragePools", zoneid=zone_id):
            self.remove_pool(pool["id"], pool["name"])
        for command, delete in (("listSecondaryStagingStores", "deleteSecondaryStagingStore"),
                                ("listImageStores", "deleteImageStore"),
                                ("listVlanIpRanges", "deleteVlanIpRange"),
                                ("listClusters", "deleteCluster"), ("listPods", "deletePod")):
            for row in list_all(self.client, command, zoneid=zone_id):
                self.call(delete, row.get("name") or row.get("description") or row["id"], id=row["id"])
        for network in list_all(self.client, "listPhysicalNetworks", zoneid=zone_id):
            self.remove_physical_network(network["id"], network["name"])
        self.call("deleteZone", zone["name"], id=zone_id)

    def quietly(self, command: str, **params: Any) -> list[dict]:
        """A list command that may not exist yet on this server: an unknown command lists nothing."""
        try:
            return list_all(self.client, command, **params)
        except CloudstackError as error:
            if is_unknown_command(self.client, error):
                return []
            raise DeployError(command, f"{error.errorcode} {error.errortext}") from None


# ---- entry point (used by the CLI) ----------------------------------------------------------------


def teardown(config: Obj, client: Client, state_path: Path | None, progress: Progress,
             zones: list[str] | None = None, timeout: float = 60) -> tuple[list[str], list[str]]:
    """Answer (what is left of the config's zones, errors met on the way)."""
    names = [z.name for z in select_zones(config, zones)]
    if state_path:
        check_state_owner(state_path, [z.name for z in config.zones or []])
    entries = read_entries(state_path) if state_path else []
    if zones:
        wanted = {z["id"] for name in names for z in client.list("listZones", name=name) if z["name"] == name}
        entries = [e for e in entries if e.get("zoneid") in wanted]
    worker = Teardown(client, progress, timeout)
    left = worker.run(entries, names)
    if not left and state_path and state_path.exists() and not zones:
        state_path.unlink()  # nothing it names exists any more
    return left, worker.errors
