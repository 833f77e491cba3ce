"""Network topology: regions, physical networks, traffic types, providers and their elements, IP ranges.

The happy paths follow the deployer's call order (spec/datacenter-config.md §5); every rule the server
enforces has a refusal test with its errorcode and a text naming the problem.
"""

import random

import pytest
from sqlalchemy import create_engine, text

from marvin.errors import CloudstackError, JobFailed

from .conftest import unique

DEFAULT_PROVIDERS = {"VirtualRouter", "SecurityGroupProvider", "VpcVirtualRouter", "InternalLbVm",
                     "ConfigDrive"}
PUBLIC = {"gateway": "203.0.113.1", "netmask": "255.255.255.0"}


# ---- helpers: the deployer's steps ----------------------------------------------------------------


def make_zone(admin, networktype="Advanced", **extra):
    params = {"name": unique("zone"), "networktype": networktype, "dns1": "9.9.9.9",
              "internaldns1": "10.30.0.2"}
    if networktype == "Advanced" and not extra.get("securitygroupenabled"):
        params["guestcidraddress"] = "10.40.0.0/22"
    return admin("createZone", **params, **extra)


def make_physical_network(admin, zone, *traffic, isolation="VLAN", **extra):
    network = admin("createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"),
                    isolationmethods=[isolation], **extra)
    for kind in traffic:
        admin("addTrafficType", physicalnetworkid=network["id"], traffictype=kind, kvmnetworklabel="cloudbr0")
    return network


def enable_provider(admin, network, name):
    """§5.1: find the Disabled provider, enable its element if it has one, then enable the provider."""
    (nsp,) = admin.list("listNetworkServiceProviders", physicalnetworkid=network["id"], name=name,
                        state="Disabled")
    if name in ("VirtualRouter", "VpcVirtualRouter"):
        (element,) = admin.list("listVirtualRouterElements", nspid=nsp["id"])
        assert element["enabled"] is False
        assert admin("configureVirtualRouterElement", id=element["id"], enabled=True)["enabled"] is True
    elif name == "InternalLbVm":
        (element,) = admin.list("listInternalLoadBalancerElements", nspid=nsp["id"])
        configured = admin("configureInternalLoadBalancerElement", id=element["id"], enabled=True)
        assert configured["enabled"] is True
    enabled = admin("updateNetworkServiceProvider", id=nsp["id"], state="Enabled")
    assert enabled["state"] == "Enabled"
    return enabled


def make_pod(admin, zone, third_octet=3):
    return admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway=f"10.30.{third_octet}.1",
                 netmask="255.255.255.0", startip=f"10.30.{third_octet}.10", endip=f"10.30.{third_octet}.90")


def shared_network(admin, zone, offering="DefaultSharedNetworkOfferingWithSGService", **extra):
    """The guest network a Basic/SG zone's pod ranges belong to (spec §5.2, §5.4)."""
    (row,) = admin.list("listNetworkOfferings", name=offering)
    return admin("createNetwork", name=unique("guest"), networkofferingid=row["id"], zoneid=zone["id"],
                 **extra)


def providers_by_name(admin, network):
    return {p["name"]: p for p in admin.list("listNetworkServiceProviders", physicalnetworkid=network["id"])}


def refused(call, *args, **kwargs) -> CloudstackError:
    with pytest.raises(CloudstackError) as error:
        call(*args, **kwargs)
    return error.value


@pytest.fixture
def advanced(admin):
    """An Advanced zone as §5.3 builds it: one VLAN physical network (guest 700-760), one pod."""
    zone = make_zone(admin)
    network = make_physical_network(admin, zone, "Guest", "Management", "Public")
    for name in ("VirtualRouter", "VpcVirtualRouter", "InternalLbVm"):
        enable_provider(admin, network, name)
    network = admin("updatePhysicalNetwork", id=network["id"], state="Enabled", vlan="700-760")
    return zone, network, make_pod(admin, zone)


@pytest.fixture
def database(server):
    """Direct access to the server's database, to stand in for allocations whose commands don't exist yet."""
    engine = create_engine(server.db_url)

    def execute(sql: str, **params):
        with engine.begin() as conn:
            conn.execute(text(sql), params)

    yield execute
    engine.dispose()


# ---- the deployer's sequences -------------------------------------------------------------------


def test_basic_zone_topology(admin):
    zone = make_zone(admin, "Basic", securitygroupenabled=True)
    network = make_physical_network(admin, zone, "Guest", "Management", isolation="L3")
    assert (network["zoneid"], network["zonename"]) == (zone["id"], zone["name"])
    assert network["state"] == "Disabled"
    assert (network["isolationmethods"], network["broadcastdomainrange"]) == ("L3", "POD")
    traffic = admin.list("listTrafficTypes", physicalnetworkid=network["id"])
    assert {t["traffictype"] for t in traffic} == {"Guest", "Management"}
    assert {t["kvmnetworklabel"] for t in traffic} == {"cloudbr0"}
    providers = providers_by_name(admin, network)
    assert set(providers) == DEFAULT_PROVIDERS
    assert {p["state"] for p in providers.values()} == {"Disabled"}
    assert providers["SecurityGroupProvider"]["servicelist"] == ["SecurityGroup"]
    assert {"Dhcp", "Dns", "UserData"} <= set(providers["VirtualRouter"]["servicelist"])
    for name in ("VirtualRouter", "SecurityGroupProvider"):
        enable_provider(admin, network, name)
    assert admin("updatePhysicalNetwork", id=network["id"], state="Enabled")["state"] == "Enabled"
    pod = make_pod(admin, zone, 4)
    guest_network = shared_network(admin, zone)
    guest = admin("createVlanIpRange", zoneid=zone["id"], podid=pod["id"], networkid=guest_network["id"],
                  forvirtualnetwork=False, startip="10.30.2.10", endip="10.30.2.250", gateway="10.30.2.1",
                  netmask="255.255.255.0")
    assert (guest["podid"], guest["podname"], guest["forvirtualnetwork"]) == (pod["id"], pod["name"], False)
    assert (guest["vlan"], guest["description"]) == ("untagged", "10.30.2.10-10.30.2.250")
    assert guest["physicalnetworkid"] == network["id"]
    assert [r["id"] for r in admin.list("listVlanIpRanges", zoneid=zone["id"])] == [guest["id"]]
    assert admin.list("listVlanIpRanges", zoneid=zone["id"], forvirtualnetwork=True) == []


def test_basic_zone_rules(admin):
    zone = make_zone(admin, "Basic", securitygroupenabled=True)
    network = make_physical_network(admin, zone, "Guest", "Management", isolation="L3")
    second = refused(admin, "createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"))
    assert second.errorcode == 530 and "already existing in this basic Zone" in second.errortext
    vnets = refused(admin, "updatePhysicalNetwork", id=network["id"], vlan="100-200")
    assert isinstance(vnets, JobFailed) and vnets.errorcode == 431 and "Basic zone" in vnets.errortext
    pod = make_pod(admin, zone, 5)
    public = refused(admin, "createVlanIpRange", zoneid=zone["id"], forvirtualnetwork=True,
                     startip="203.0.113.5", endip="203.0.113.9", **PUBLIC)
    assert public.errorcode == 431 and "Public traffic" in public.errortext
    podless = refused(admin, "createVlanIpRange", zoneid=zone["id"], forvirtualnetwork=False,
                      startip="10.30.6.10", endip="10.30.6.20", gateway="10.30.6.1", netmask="255.255.255.0")
    assert podless.errorcode == 431 and "podid" in podless.errortext
    wrong_range = refused(admin, "createPhysicalNetwork", zoneid=make_zone(admin, "Basic")["id"],
                          name=unique("pnet"), broadcastdomainrange="Zone")
    assert wrong_range.errorcode == 431 and "POD only" in wrong_range.errortext
    networkless = refused(admin, "createVlanIpRange", podid=pod["id"], forvirtualnetwork=False,
                          startip="10.30.6.10", endip="10.30.6.20", gateway="10.30.6.1",
                          netmask="255.255.255.0")
    assert networkless.errorcode == 431 and "networkid" in networkless.errortext
    assert admin("createVlanIpRange", podid=pod["id"], forvirtualnetwork=False, startip="10.30.6.10",
                 endip="10.30.6.20", gateway="10.30.6.1", netmask="255.255.255.0",
                 networkid=shared_network(admin, zone)["id"])["zoneid"] == zone["id"]


def test_basic_zone_with_elastic_ip_takes_public_ranges(admin):
    zone = make_zone(admin, "Basic", securitygroupenabled=True)
    network = make_physical_network(admin, zone, "Guest", "Management", "Public", isolation="L3")
    public = admin("createVlanIpRange", zoneid=zone["id"], forvirtualnetwork=True, startip="198.51.100.10",
                   endip="198.51.100.20", gateway="198.51.100.1", netmask="255.255.255.0")
    assert public["forvirtualnetwork"] is True and public["physicalnetworkid"] == network["id"]


def test_advanced_zone_topology(admin, advanced):
    zone, network, pod = advanced
    assert (network["state"], network["vlan"]) == ("Enabled", "700-760")
    assert network["broadcastdomainrange"] == "ZONE"
    providers = providers_by_name(admin, network)
    assert {n: p["state"] for n, p in providers.items() if p["state"] == "Enabled"} == {
        "VirtualRouter": "Enabled", "VpcVirtualRouter": "Enabled", "InternalLbVm": "Enabled"}
    assert "NetworkACL" in providers["VpcVirtualRouter"]["servicelist"]
    assert providers["InternalLbVm"]["servicelist"] == ["Lb"]
    elements = admin.list("listVirtualRouterElements", enabled=True)
    routers = {providers["VirtualRouter"]["id"], providers["VpcVirtualRouter"]["id"]}
    assert routers <= {e["nspid"] for e in elements}
    public = admin("createVlanIpRange", zoneid=zone["id"], vlan="90", forvirtualnetwork=True,
                   startip="203.0.113.20", endip="203.0.113.120", **PUBLIC)
    assert (public["vlan"], public["forvirtualnetwork"], public["zoneid"]) == ("vlan://90", True, zone["id"])
    assert (public["startip"], public["endip"], public["gateway"]) == ("203.0.113.20", "203.0.113.120",
                                                                       "203.0.113.1")
    assert public["physicalnetworkid"] == network["id"] and "podid" not in public
    (listed,) = admin.list("listVlanIpRanges", zoneid=zone["id"], vlan="vlan://90")
    assert listed == public
    assert admin.list("listVlanIpRanges", physicalnetworkid=network["id"], forvirtualnetwork=False) == []
    events = {e["type"] for e in admin.list("listEvents", listall=True, pagesize=-1)}
    assert {"PHYSICAL.NETWORK.CREATE", "PHYSICAL.NETWORK.UPDATE", "TRAFFIC.TYPE.CREATE",
            "SERVICE.PROVIDER.UPDATE", "NETWORK.ELEMENT.CONFIGURE", "VLAN.IP.RANGE.CREATE"} <= events
    busy = refused(admin, "deleteZone", id=zone["id"])
    assert busy.errorcode == 536


def test_advanced_zone_with_security_groups(admin):
    zone = make_zone(admin, securitygroupenabled=True)
    network = make_physical_network(admin, zone, "Guest", "Management")
    for name in ("VirtualRouter", "SecurityGroupProvider"):
        enable_provider(admin, network, name)
    admin("updatePhysicalNetwork", id=network["id"], state="Enabled", vlan="500-520")
    pod = make_pod(admin, zone)
    guest_network = shared_network(admin, zone, gateway="10.50.0.1", netmask="255.255.255.0", vlan="200")
    guest = admin("createVlanIpRange", zoneid=zone["id"], podid=pod["id"], networkid=guest_network["id"],
                  vlan="200", forvirtualnetwork=False, startip="10.50.0.10", endip="10.50.0.100",
                  gateway="10.50.0.1", netmask="255.255.255.0", startipv6="fd00:50::10",
                  endipv6="fd00:50::ff", ip6gateway="fd00:50::1", ip6cidr="fd00:50::/64")
    assert (guest["forvirtualnetwork"], guest["vlan"], guest["podid"]) == (False, "vlan://200", pod["id"])
    assert (guest["startipv6"], guest["endipv6"], guest["ip6cidr"]) == ("fd00:50::10", "fd00:50::ff",
                                                                        "fd00:50::/64")
    assert [r["id"] for r in admin.list("listVlanIpRanges", podid=pod["id"])] == [guest["id"]]
    assert admin.list("listVlanIpRanges", zoneid=zone["id"], networkid=unique("net")) == []


# ---- IP range rules ---------------------------------------------------------------------------


def test_ip_range_validation(admin, advanced):
    zone, _, pod = advanced

    def create(**params):
        return admin("createVlanIpRange", zoneid=zone["id"], forvirtualnetwork=True, **params)

    create(vlan="90", startip="203.0.113.20", endip="203.0.113.120", **PUBLIC)
    cases = [
        ({"vlan": "90", "startip": "203.0.113.100", "endip": "203.0.113.150", **PUBLIC},
         "overlaps the IP range"),
        ({"vlan": "91", "startip": "203.0.113.200", "endip": "203.0.113.210", **PUBLIC},
         "overlaps the subnet"),
        ({"vlan": "92", "startip": "198.51.100.10", "endip": "198.51.100.20", **PUBLIC}, "not in the CIDR"),
        ({"vlan": "92", "startip": "198.51.100.20", "endip": "198.51.100.10", "gateway": "198.51.100.1",
          "netmask": "255.255.255.0"}, "greater than"),
        ({"vlan": "92", "startip": "198.51.100.1", "endip": "198.51.100.10", "gateway": "198.51.100.5",
          "netmask": "255.255.255.0"}, "gateway 198.51.100.5 should not be part"),
        ({"vlan": "92", "startip": "198.51.100.10", "endip": "198.51.100.20", "gateway": "198.51.100.1",
          "netmask": "255.0.255.0"}, "valid netmask"),
        ({"vlan": "710", "startip": "198.51.100.10", "endip": "198.51.100.20", "gateway": "198.51.100.1",
          "netmask": "255.255.255.0"}, "dynamic vlan allocation"),
        ({"startip": "10.30.3.50", "endip": "10.30.3.60", "gateway": "10.30.3.1", "netmask": "255.255.255.0"},
         "reserved system IP range"),
        ({"vlan": "blue", "startip": "198.51.100.10", "endip": "198.51.100.20", "gateway": "198.51.100.1",
          "netmask": "255.255.255.0"}, "parameter vlan"),
        ({"vlan": "4095", "startip": "198.51.100.10", "gateway": "198.51.100.1", "netmask": "255.255.255.0"},
         "parameter vlan"),
        ({"vlan": "93", "startip": "198.51.100.10", "endip": "198.51.100.20", "gateway": "198.51.100.1",
          "netmask": "255.255.255.0", "podid": pod["id"]}, "podid"),
        ({"vlan": "93", "startip": "198.51.100.400", "gateway": "198.51.100.1", "netmask": "255.255.255.0"},
         "startip"),
        ({"vlan": "93", "startip": "198.51.100.10"}, "gateway and netmask"),
        ({"vlan": "93"}, "startip"),
    ]
    for params, text_part in cases:
        error = refused(create, **params)
        assert (error.errorcode, text_part in error.errortext) == (431, True), (params, error.errortext)
    more = create(vlan="vlan://90", startip="203.0.113.150", endip="203.0.113.160", **PUBLIC)
    assert more["vlan"] == "vlan://90"
    single = create(vlan="94", startip="192.0.2.10", gateway="192.0.2.1", netmask="255.255.255.0")
    assert (single["startip"], single["endip"]) == ("192.0.2.10", "192.0.2.10")


def test_ranges_in_use_are_kept(admin, advanced, database):
    zone, network, _ = advanced
    public = admin("createVlanIpRange", zoneid=zone["id"], vlan="95", forvirtualnetwork=True,
                   startip="203.0.113.20", endip="203.0.113.30", **PUBLIC)
    database("UPDATE user_ip_address SET state = 'Allocated' WHERE public_ip_address = '203.0.113.25'")
    in_use = refused(admin, "deleteVlanIpRange", id=public["id"])
    assert in_use.errorcode == 536 and "allocated" in in_use.errortext
    pnet_busy = refused(admin, "deletePhysicalNetwork", id=network["id"])
    assert isinstance(pnet_busy, JobFailed) and pnet_busy.errorcode == 536
    assert "IP ranges" in pnet_busy.errortext
    database("UPDATE user_ip_address SET state = 'Free' WHERE public_ip_address = '203.0.113.25'")
    assert admin("deleteVlanIpRange", id=public["id"]) == {"success": True}
    assert admin.list("listVlanIpRanges", zoneid=zone["id"]) == []
    # The addresses are free again: the same range can be created anew.
    admin("createVlanIpRange", zoneid=zone["id"], vlan="95", forvirtualnetwork=True, startip="203.0.113.20",
          endip="203.0.113.30", **PUBLIC)


def test_dedicated_public_ranges(admin, advanced, account_factory):
    zone, _, _ = advanced
    acct, _, _ = account_factory()
    dedicated = admin("createVlanIpRange", zoneid=zone["id"], vlan="96", startip="203.0.113.40",
                      endip="203.0.113.50", account=acct["name"], domainid=acct["domainid"], **PUBLIC)
    assert (dedicated["account"], dedicated["domainid"]) == (acct["name"], acct["domainid"])
    listed = admin.list("listVlanIpRanges", account=acct["name"], domainid=acct["domainid"])
    assert [r["id"] for r in listed] == [dedicated["id"]]
    again = refused(admin, "dedicatePublicIpRange", id=dedicated["id"], account=acct["name"],
                    domainid=acct["domainid"])
    assert again.errorcode == 431 and "already dedicated" in again.errortext
    assert admin("releasePublicIpRange", id=dedicated["id"]) == {"success": True}
    not_dedicated = refused(admin, "releasePublicIpRange", id=dedicated["id"])
    assert not_dedicated.errorcode == 431 and "not dedicated" in not_dedicated.errortext
    rededicated = admin("dedicatePublicIpRange", id=dedicated["id"], account=acct["name"],
                        domainid=acct["domainid"])
    assert rededicated["account"] == acct["name"]
    admin("releasePublicIpRange", id=dedicated["id"])
    unknown = refused(admin, "dedicatePublicIpRange", id=dedicated["id"], account=unique("nobody"),
                      domainid=acct["domainid"])
    assert unknown.errorcode == 431 and "Unable to find account" in unknown.errortext
    pod = make_pod(admin, zone, 7)
    guest_network = shared_network(admin, zone, "DefaultSharedNetworkOffering", gateway="10.60.0.1",
                                   netmask="255.255.255.0", vlan="97")
    guest = admin("createVlanIpRange", zoneid=zone["id"], podid=pod["id"], networkid=guest_network["id"],
                  vlan="97", forvirtualnetwork=False, startip="10.60.0.10", endip="10.60.0.20",
                  gateway="10.60.0.1", netmask="255.255.255.0")
    not_public = refused(admin, "dedicatePublicIpRange", id=guest["id"], domainid=acct["domainid"])
    assert not_public.errorcode == 431 and "not a public IP range" in not_public.errortext
    events = {e["type"] for e in admin.list("listEvents", listall=True, resourceid=dedicated["id"])}
    assert {"VLAN.IP.RANGE.CREATE", "VLAN.IP.RANGE.DEDICATE", "VLAN.IP.RANGE.RELEASE"} <= events


# ---- physical networks, guest VLAN ranges -----------------------------------------------------


def test_guest_vlan_ranges(admin, advanced, database):
    zone, network, _ = advanced
    widened = admin("updatePhysicalNetwork", id=network["id"], vlan="700-760,761-770,800-810")
    assert widened["vlan"] == "700-770,800-810"
    trimmed = admin("updatePhysicalNetwork", id=network["id"], removevlan="800-805")
    assert trimmed["vlan"] == "700-770,806-810"
    for vlan, text_part in (("0-10", "between 1 and 4094"), ("4000-5000", "between 1 and 4094"),
                            ("750-740", "lesser than or equal"), ("700", "comma separated"),
                            ("a-b", "comma separated")):
        error = refused(admin, "updatePhysicalNetwork", id=network["id"], vlan=vlan)
        assert isinstance(error, JobFailed) and (error.errorcode, text_part in error.errortext) == (431, True)
    other = admin("createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"), isolationmethods="VLAN",
                  tags="second")
    clash = refused(admin, "updatePhysicalNetwork", id=other["id"], vlan="765-780")
    assert clash.errorcode == 431 and "overlaps the vnet 765" in clash.errortext
    assert admin("updatePhysicalNetwork", id=other["id"], vlan="900-910")["vlan"] == "900-910"
    database("UPDATE op_dc_vnet_alloc SET taken = CURRENT_TIMESTAMP WHERE vnet = 905")
    taken = refused(admin, "updatePhysicalNetwork", id=other["id"], vlan="900-904")
    assert taken.errorcode == 536 and "in use" in taken.errortext
    busy = refused(admin, "deletePhysicalNetwork", id=other["id"])
    assert busy.errorcode == 536 and "allocated vnets" in busy.errortext
    database("UPDATE op_dc_vnet_alloc SET taken = NULL WHERE vnet = 905")
    assert admin("updatePhysicalNetwork", id=other["id"], vlan="")["state"] == "Disabled"
    assert "vlan" not in admin.list("listPhysicalNetworks", id=other["id"])[0]
    assert admin("deletePhysicalNetwork", id=other["id"]) == {"success": True}
    gone = refused(admin.request, "listNetworkServiceProviders", {"physicalnetworkid": other["id"]})
    assert gone.errorcode == 431
    assert [n["id"] for n in admin.list("listPhysicalNetworks", zoneid=zone["id"])] == [network["id"]]


def test_vxlan_and_gre_physical_networks(admin):
    zone = make_zone(admin)
    vxlan = make_physical_network(admin, zone, isolation="VXLAN", tags="vxlan")
    assert admin("updatePhysicalNetwork", id=vxlan["id"], vlan="5000-5010")["vlan"] == "5000-5010"
    too_far = refused(admin, "updatePhysicalNetwork", id=vxlan["id"], vlan="5000-16777215")
    assert too_far.errorcode == 431 and "between 1 and 16777214" in too_far.errortext
    gre = make_physical_network(admin, zone, isolation="GRE", tags="gre")
    assert "Ovs" in providers_by_name(admin, gre)
    assert "Ovs" not in providers_by_name(admin, vxlan)


def test_physical_network_rules(admin):
    zone = make_zone(admin)
    bad = refused(admin, "createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"),
                  isolationmethods="FOO")
    assert bad.errorcode == 431 and "Invalid isolation method FOO" in bad.errortext
    two = refused(admin, "createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"),
                  isolationmethods="VLAN,VXLAN")
    assert two.errorcode == 431 and "Only one isolationMethod" in two.errortext
    tags = refused(admin, "createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"), tags="a,b")
    assert tags.errorcode == 431 and "Only one tag" in tags.errortext
    pod_range = refused(admin, "createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"),
                        broadcastdomainrange="POD")
    assert pod_range.errorcode == 431 and "ZONE only" in pod_range.errortext
    created = admin.request("createPhysicalNetwork", {"zoneid": zone["id"], "name": unique("pnet"),
                                                      "vlan": "300-310"})
    assert set(created) == {"id", "jobid"}
    network = admin.wait(created["jobid"])["physicalnetwork"]
    assert (network["id"], network["vlan"]) == (created["id"], "300-310")
    state = refused(admin, "updatePhysicalNetwork", id=network["id"], state="Broken")
    assert state.errorcode == 431 and "Enabled or Disabled" in state.errortext
    updated = admin("updatePhysicalNetwork", id=network["id"], tags="fast", networkspeed="10G")
    assert (updated["tags"], updated["networkspeed"]) == ("fast", "10G")
    assert [n["id"] for n in admin.list("listPhysicalNetworks", name=network["name"])] == [network["id"]]
    busy = refused(admin, "deleteZone", id=zone["id"])
    assert busy.errorcode == 536 and "physical networks" in busy.errortext
    admin("updateZone", id=zone["id"], allocationstate="Enabled")
    enabled = refused(admin, "createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"))
    assert enabled.errorcode == 531 and "currently enabled" in enabled.errortext
    admin("updateZone", id=zone["id"], allocationstate="Disabled")
    assert admin("deletePhysicalNetwork", id=network["id"]) == {"success": True}
    assert admin("deleteZone", id=zone["id"]) == {"success": True}


# ---- traffic types ----------------------------------------------------------------------------


def test_traffic_types(admin):
    zone = make_zone(admin)
    first = make_physical_network(admin, zone, "Guest", "Public")
    duplicate = refused(admin, "addTrafficType", physicalnetworkid=first["id"], traffictype="Guest")
    assert duplicate.errorcode == 530 and "already supports the traffic type: Guest" in duplicate.errortext
    unknown = refused(admin, "addTrafficType", physicalnetworkid=first["id"], traffictype="Video")
    assert unknown.errorcode == 431 and "trafficType 'Video'" in unknown.errortext
    second = admin("createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"))
    public = refused(admin, "addTrafficType", physicalnetworkid=second["id"], traffictype="Public")
    assert public.errorcode == 530 and "Zone already has a physical network" in public.errortext
    untagged = refused(admin, "addTrafficType", physicalnetworkid=second["id"], traffictype="Guest")
    assert untagged.errorcode == 530 and "without tags" in untagged.errortext
    tagged = admin("createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"), tags="storage")
    guest = admin("addTrafficType", physicalnetworkid=tagged["id"], traffictype="guest",
                  xennetworklabel="xenbr1", vmwarenetworklabel="vSwitch1")
    assert (guest["traffictype"], guest["physicalnetworkid"]) == ("Guest", tagged["id"])
    updated = admin("updateTrafficType", id=guest["id"], kvmnetworklabel="cloudbr1", xennetworklabel="")
    assert updated["kvmnetworklabel"] == "cloudbr1" and "xennetworklabel" not in updated
    assert updated["vmwarenetworklabel"] == "vSwitch1"
    assert admin("deleteTrafficType", id=guest["id"]) == {"success": True}
    assert admin.list("listTrafficTypes", physicalnetworkid=tagged["id"]) == []
    missing = refused(admin.request, "listTrafficTypes", {})
    assert missing.errorcode == 431 and "physicalnetworkid" in missing.errortext


# ---- providers and elements -------------------------------------------------------------------


def test_provider_lifecycle(admin):
    zone = make_zone(admin)
    network = make_physical_network(admin, zone, "Guest")
    providers = providers_by_name(admin, network)
    router = providers["VirtualRouter"]["id"]
    not_ready = refused(admin, "updateNetworkServiceProvider", id=router, state="Enabled")
    assert isinstance(not_ready, JobFailed) and not_ready.errorcode == 530
    assert "not ready" in not_ready.errortext
    shutdown = refused(admin, "updateNetworkServiceProvider", id=router, state="Shutdown")
    assert shutdown.errorcode == 431 and "'Shutdown' is not supported" in shutdown.errortext
    unknown = refused(admin, "addNetworkServiceProvider", name="Frobnicator", physicalnetworkid=network["id"])
    assert unknown.errorcode == 431 and "Invalid Network Service Provider=Frobnicator" in unknown.errortext
    twice = refused(admin, "addNetworkServiceProvider", name="VirtualRouter", physicalnetworkid=network["id"])
    assert twice.errorcode == 530 and "already exists" in twice.errortext
    netscaler = admin("addNetworkServiceProvider", name="Netscaler", physicalnetworkid=network["id"])
    assert (netscaler["state"], netscaler["servicelist"]) == ("Disabled", ["Lb", "StaticNat"])
    assert admin("updateNetworkServiceProvider", id=netscaler["id"], state="Enabled")["state"] == "Enabled"
    assert admin("deleteNetworkServiceProvider", id=netscaler["id"]) == {"success": True}
    events = {e["type"] for e in admin.list("listEvents", listall=True, resourceid=netscaler["id"])}
    assert {"SERVICE.PROVIDER.CREATE", "SERVICE.PROVIDER.UPDATE", "SERVICE.PROVIDER.DELETE"} <= events
    srx = admin("addNetworkServiceProvider", name="JuniperSRX", physicalnetworkid=network["id"],
                servicelist=["Firewall", "SourceNat"])
    assert srx["servicelist"] == ["Firewall", "SourceNat", "Gateway"]
    for services, text_part in ((["Teleport"], "Invalid Network Service"), (["Lb"], "cannot provide"),
                                (["Gateway"], "Invalid Network Service")):
        error = refused(admin, "addNetworkServiceProvider", name="PaloAlto", physicalnetworkid=network["id"],
                        servicelist=services)
        assert error.errorcode == 431 and text_part in error.errortext
    subset = refused(admin, "updateNetworkServiceProvider", id=providers["SecurityGroupProvider"]["id"],
                     servicelist=["SecurityGroup"])
    assert subset.errorcode == 431 and "Cannot update set of Services" in subset.errortext
    narrowed = admin("updateNetworkServiceProvider", id=providers["VirtualRouter"]["id"],
                     servicelist=["Dhcp", "Dns", "UserData"])
    assert narrowed["servicelist"] == ["Dhcp", "Dns", "UserData"]
    assert [p["name"] for p in admin.list("listNetworkServiceProviders", physicalnetworkid=network["id"],
                                          name="configdrive")] == ["ConfigDrive"]


def test_router_elements_can_be_recreated(admin):
    zone = make_zone(admin)
    network = make_physical_network(admin, zone, "Guest")
    providers = providers_by_name(admin, network)
    old = admin.list("listVirtualRouterElements", nspid=providers["VirtualRouter"]["id"])[0]
    admin("deleteNetworkServiceProvider", id=providers["VirtualRouter"]["id"])
    assert refused(admin.request, "listVirtualRouterElements", {"id": old["id"]}).errorcode == 431
    nsp = admin("addNetworkServiceProvider", name="VirtualRouter", physicalnetworkid=network["id"])
    assert admin.list("listVirtualRouterElements", nspid=nsp["id"]) == []
    element = admin("createVirtualRouterElement", nspid=nsp["id"])
    assert (element["nspid"], element["enabled"]) == (nsp["id"], False)
    twice = refused(admin, "createVirtualRouterElement", nspid=nsp["id"])
    assert twice.errorcode == 530 and "already" in twice.errortext
    wrong = refused(admin, "createVirtualRouterElement", nspid=providers["InternalLbVm"]["id"])
    assert wrong.errorcode == 431
    enable_provider(admin, network, "VirtualRouter")
    ilb_nsp = providers["InternalLbVm"]
    (ilb,) = admin.list("listInternalLoadBalancerElements", nspid=ilb_nsp["id"])
    not_router = refused(admin, "configureVirtualRouterElement", id=ilb["id"], enabled=True)
    assert not_router.errorcode == 431
    admin("deleteNetworkServiceProvider", id=ilb_nsp["id"])
    readded = admin("addNetworkServiceProvider", name="InternalLbVm", physicalnetworkid=network["id"])
    created = admin("createInternalLoadBalancerElement", nspid=readded["id"])
    listed = admin.list("listInternalLoadBalancerElements", enabled=False, nspid=readded["id"])
    assert [e["id"] for e in listed] == [created["id"]]
    enable_provider(admin, network, "InternalLbVm")


# ---- regions ----------------------------------------------------------------------------------


def test_regions(admin, account_factory):
    regions = admin.list("listRegions")
    own = {"id": 1, "name": "Local", "endpoint": "http://localhost:8080/client/"}
    assert own.items() <= regions[0].items()
    region_id = random.randint(1000, 10**6)
    name = unique("region")
    added = admin("addRegion", id=region_id, name=name, endpoint="http://peer.example.test:8080/client/")
    assert (added["id"], added["name"]) == (region_id, name)
    assert refused(admin, "addRegion", id=region_id, name=unique("r"), endpoint="http://x/").errorcode == 431
    assert refused(admin, "addRegion", id=region_id + 1, name=name, endpoint="http://x/").errorcode == 431
    renamed = admin("updateRegion", id=region_id, name=unique("renamed"),
                    endpoint="http://peer2.example.test/")
    assert renamed["endpoint"] == "http://peer2.example.test/"
    _, _, user = account_factory()
    assert [r["id"] for r in user.list("listRegions", id=region_id)] == [region_id]
    assert admin("removeRegion", id=region_id) == {"success": True}
    assert admin.list("listRegions", id=region_id) == []
    local = refused(admin, "removeRegion", id=1)
    assert local.errorcode == 431 and "local region" in local.errortext
    assert refused(admin, "updateRegion", id=region_id, name="x").errorcode == 431
