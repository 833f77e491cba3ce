"""Smoke checks of a deployed zone: what any cloud under test must show before deeper tests make sense.

They need a zone under test (`--zone`, or a `--marvin-config` whose first zone is on the server; with
`--deploy` the harness builds it) and skip without one:

    pytest -m smoke --marvin-config configs/advanced.cfg --deploy --sandbox integration/
"""

import pytest

from marvin.lib.base import Host, SystemVm, Zone
from marvin.lib.utils import poll

pytestmark = [pytest.mark.smoke, pytest.mark.required_hardware(False)]

# listCapacity types: 0 memory, 1 CPU (spec/api-protocol.md).
MEMORY, CPU = 0, 1


def test_zone_is_enabled(zone):
    assert zone.refresh().allocationstate == "Enabled"


def test_every_host_of_the_zone_is_up(admin, zone):
    hosts = Host.list(admin, zoneid=zone.id, type="Routing")
    assert hosts, f"zone {zone.name} has no hosts"
    assert {host.name: host.state for host in hosts} == {host.name: "Up" for host in hosts}
    assert all(host.resourcestate == "Enabled" for host in hosts)


def system_vms_running(admin, zone):
    vms = SystemVm.list(admin, zoneid=zone.id) or []
    kinds = {vm.systemvmtype for vm in vms if vm.state == "Running"}
    return vms if kinds == {"secondarystoragevm", "consoleproxy"} else None


def test_system_vms_are_running(admin, zone):
    vms = poll(lambda: system_vms_running(admin, zone), timeout=60, what=f"system VMs running in {zone.name}")
    up = {host.id for host in Host.list(admin, zoneid=zone.id, type="Routing")}
    assert all(vm.hostid in up for vm in vms if vm.state == "Running")


def test_capacity_is_reported(admin, zone):
    capacity = {c["type"]: c for c in admin.list("listCapacity", zoneid=zone.id)}
    for kind in (MEMORY, CPU):
        assert capacity[kind]["capacitytotal"] > 0, capacity[kind]
        assert 0 <= capacity[kind]["capacityused"] <= capacity[kind]["capacitytotal"]


def test_the_admin_sees_the_zone(admin, zone):
    assert zone.id in {z.id for z in Zone.list(admin) or []}


def test_a_new_user_sees_the_public_zone(account, zone):
    if zone.get("domainid"):
        pytest.skip(f"zone {zone.name} is dedicated to a domain")
    seen = Zone.list(account.client) or []
    assert zone.id in {z.id for z in seen}
    assert all(z.allocationstate == "Enabled" for z in seen)


def test_list_apis_answers_by_role(admin, user):
    everything = {api["name"] for api in admin.list("listApis")}
    mine = {api["name"] for api in user.client.list("listApis")}
    assert {"createZone", "listZones", "listApis"} <= everything
    assert "listZones" in mine and "createZone" not in mine and mine < everything
