"""Guest networking: network and VPC offerings, guest networks (isolated, shared, L2), virtual routers.

Zones are built the way Marvin's deployer builds them (spec/datacenter-config.md §5) and left Disabled
unless a test needs users in them, so no system VM competes for hosts or public addresses. Networks are
implemented without VMs through persistent offerings (implemented at creation) and restartNetwork; the
functions the VM work calls are driven in-process against the same database (`inprocess`).
"""

import asyncio

import pytest
from sqlalchemy import create_engine, text

from marvin.errors import CloudstackError, JobFailed

from .conftest import unique

DEFAULT_OFFERINGS = {
    "DefaultSharedNetworkOfferingWithSGService": "Offering for Shared Security group enabled networks",
    "DefaultSharedNetworkOffering": "Offering for Shared networks",
    "DefaultIsolatedNetworkOfferingWithSourceNatService":
        "Offering for Isolated networks with Source Nat service enabled",
    "DefaultIsolatedNetworkOffering": "Offering for Isolated networks with no Source Nat service",
    "DefaultSharedNetscalerEIPandELBNetworkOffering":
        "Offering for Shared networks with Elastic IP and Elastic LB capabilities",
    "DefaultIsolatedNetworkOfferingForVpcNetworks":
        "Offering for Isolated Vpc networks with Source Nat service enabled",
    "DefaultIsolatedNetworkOfferingForVpcNetworksNoLB":
        "Offering for Isolated Vpc networks with Source Nat service enabled and LB service Disabled",
    "DefaultIsolatedNetworkOfferingForVpcNetworksWithInternalLB":
        "Offering for Isolated Vpc networks with Internal LB support",
    "QuickCloudNoServices": "Offering for QuickCloud with no services",
    "DefaultL2NetworkOffering": "Offering for L2 networks",
    "DefaultL2NetworkOfferingVlan": "Offering for L2 networks VLAN",
    "DefaultL2NetworkOfferingConfigDrive": "Offering for L2 networks with config drive user data",
    "DefaultL2NetworkOfferingConfigDriveVlan": "Offering for L2 networks with config drive user data VLAN",
}
ISOLATED_SERVICES = {"Dhcp", "Dns", "UserData", "Firewall", "Gateway", "Lb", "SourceNat", "StaticNat",
                     "PortForwarding", "Vpn"}
SOURCE_NAT = "DefaultIsolatedNetworkOfferingWithSourceNatService"
ROUTER_MEMORY = 256 * 1024**2


# ---- helpers --------------------------------------------------------------------------------------

def refused(call, *args, **kwargs) -> CloudstackError:
    with pytest.raises(CloudstackError) as error:
        call(*args, **kwargs)
    return error.value


def offering(client, name: str) -> dict:
    (found,) = client.list("listNetworkOfferings", name=name)
    return found


def services(row: dict) -> dict[str, set[str]]:
    return {s["name"]: {p["name"] for p in s["provider"]} for s in row.get("service", [])}


def enable_provider(admin, pnet, name):
    (nsp,) = admin.list("listNetworkServiceProviders", physicalnetworkid=pnet["id"], name=name)
    if name in ("VirtualRouter", "VpcVirtualRouter"):
        (element,) = admin.list("listVirtualRouterElements", nspid=nsp["id"])
        admin("configureVirtualRouterElement", id=element["id"], enabled=True)
    admin("updateNetworkServiceProvider", id=nsp["id"], state="Enabled")


def add_cluster(admin, zone, pod, hosts=1, storage=True):
    cluster = admin.list("addCluster", zoneid=zone["id"], podid=pod["id"], clustername=unique("c"),
                         hypervisor="Simulator", clustertype="CloudManaged")[0]
    for i in range(hosts):
        admin.list("addHost", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"],
                   hypervisor="Simulator",
                   url=f"http://sim/{cluster['name']}/h{i}", username="root", password="password")
    if storage:
        admin("createStoragePool", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"],
              name=unique("ps"),
              url=f"nfs://10.147.28.6:/export/{unique('primary')}")
    return cluster


def advanced_zone(admin, *, vlans="600-620", public=("198.51.100.", 10, 40), hosts=1, enabled=False,
                  **zone_args):
    """§5.3: zone, physical network (Guest/Management/Public, VirtualRouter), pod, cluster, public range."""
    zone = admin("createZone", name=unique("net"), networktype="Advanced", dns1="8.8.8.8",
                 internaldns1="8.8.4.4",
                 guestcidraddress="10.1.1.0/24", **zone_args)
    pnet = admin("createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"), isolationmethods=["VLAN"])
    for kind in ("Guest", "Management", "Public"):
        admin("addTrafficType", physicalnetworkid=pnet["id"], traffictype=kind)
    enable_provider(admin, pnet, "VirtualRouter")
    pnet = admin("updatePhysicalNetwork", id=pnet["id"], state="Enabled", vlan=vlans)
    pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.30.1",
                netmask="255.255.255.0",
                startip="172.16.30.2", endip="172.16.30.200")
    if hosts:
        add_cluster(admin, zone, pod, hosts)
    prefix, first, last = public
    admin("createVlanIpRange", zoneid=zone["id"], vlan="50", forvirtualnetwork=True, gateway=f"{prefix}1",
          netmask="255.255.255.0", startip=f"{prefix}{first}", endip=f"{prefix}{last}")
    if enabled:
        admin("updateZone", id=zone["id"], allocationstate="Enabled")
    return zone, pnet, pod


def sg_zone(admin, basic: bool):
    """§5.2/§5.4 up to the guest network: zone with security groups, physical network, providers."""
    extra = {"networktype": "Basic"} if basic else {"networktype": "Advanced"}
    zone = admin("createZone", name=unique("sg"), dns1="8.8.8.8", internaldns1="8.8.4.4",
                 securitygroupenabled=True,
                 **extra)
    pnet = admin("createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"),
                 isolationmethods=["L3" if basic else "VLAN"])
    for kind in ("Guest", "Management"):
        admin("addTrafficType", physicalnetworkid=pnet["id"], traffictype=kind)
    for name in ("VirtualRouter", "SecurityGroupProvider"):
        enable_provider(admin, pnet, name)
    admin("updatePhysicalNetwork", id=pnet["id"], state="Enabled", **({} if basic else {"vlan": "900-910"}))
    return zone, pnet


def persistent_offering(admin) -> dict:
    """An isolated offering with every VR service, persistent: its networks are implemented at creation."""
    row = admin("createNetworkOffering", name=unique("persistent"), displaytext="persistent isolated",
                guestiptype="Isolated", traffictype="GUEST",
                supportedservices=sorted(ISOLATED_SERVICES - {"Gateway"}),
                ispersistent=True, enable=True)
    assert row["ispersistent"] is True and row["state"] == "Enabled"
    return row


@pytest.fixture(scope="module")
def db(server):
    """The server's database, to check what the API doesn't show (VNETs, address rows, usage events)."""
    engine = create_engine(server.db_url)

    def query(sql: str, **params):
        with engine.begin() as conn:
            return conn.execute(text(sql), params).all()

    yield query
    engine.dispose()


def memory_used(admin, zone) -> int:
    return next(c["capacityused"] for c in admin.list("listCapacity", zoneid=zone["id"]) if c["type"] == 0)


def vnets_taken(db, pnet) -> list[int]:
    return [row[0] for row in db("SELECT v.vnet FROM op_dc_vnet_alloc v JOIN physical_network p ON p.id = "
                                 "v.physical_network_id WHERE p.uuid = :u AND v.taken IS NOT NULL",
                                 u=pnet["id"])]


def allocated_public(db, zone) -> list[tuple]:
    return db("SELECT i.public_ip_address, i.is_source_nat FROM user_ip_address i JOIN data_center z ON z.id "
              "= i.zone_id JOIN vlan v ON v.id = i.vlan_id WHERE z.uuid = :u AND i.state != 'Free' AND "
              "v.vlan_type = 'VirtualNetwork'", u=zone["id"])


# ---- network offerings ----------------------------------------------------------------------------

def test_default_offerings_are_seeded_with_exact_names_and_display_texts(admin):
    rows = {o["name"]: o for o in admin.list("listNetworkOfferings", isdefault=True, pagesize=-1)}
    assert {name: rows[name]["displaytext"] for name in DEFAULT_OFFERINGS} == DEFAULT_OFFERINGS
    assert all(rows[n]["state"] == "Enabled" and rows[n]["ispersistent"] is False for n in DEFAULT_OFFERINGS)
    source_nat = rows[SOURCE_NAT]
    assert (source_nat["availability"], source_nat["guestiptype"], source_nat["specifyvlan"]) == \
        ("Required", "Isolated", False)
    assert services(source_nat) == {s: {"VirtualRouter"} for s in ISOLATED_SERVICES}
    nat = next(s for s in source_nat["service"] if s["name"] == "SourceNat")
    assert {"name": "SupportedSourceNatTypes", "value": "peraccount", "canchooseservicecapability": False} \
        in nat["capability"]
    sg = rows["DefaultSharedNetworkOfferingWithSGService"]
    assert services(sg) == {"Dhcp": {"VirtualRouter"}, "Dns": {"VirtualRouter"},
                            "UserData": {"VirtualRouter"},
                            "SecurityGroup": {"SecurityGroupProvider"}}
    assert (sg["specifyvlan"], sg["specifyipranges"], sg["conservemode"]) == (True, True, True)
    eip = services(rows["DefaultSharedNetscalerEIPandELBNetworkOffering"])
    assert eip["StaticNat"] == eip["Lb"] == {"Netscaler"}
    internal_lb = rows["DefaultIsolatedNetworkOfferingForVpcNetworksWithInternalLB"]
    assert services(internal_lb)["Lb"] == {"InternalLbVm"}
    assert services(rows["DefaultL2NetworkOfferingConfigDrive"]) == {"UserData": {"ConfigDrive"}}
    assert rows["DefaultL2NetworkOffering"].get("service", []) == []
    assert rows["DefaultIsolatedNetworkOfferingForVpcNetworks"]["forvpc"] is True
    assert not any(name.startswith("System-") for name in rows)
    system = {o["name"]: o for o in admin.list("listNetworkOfferings", issystem=True)}
    assert system["System-Public-Network"]["traffictype"] == "Public"
    assert system["System-Control-Network"]["displaytext"] == "System Offering for System-Control-Network"


def test_terraform_and_ansible_lookups(admin):
    zone, _, _ = advanced_zone(admin, hosts=0)
    by_name = admin.list("listNetworkOfferings", name=SOURCE_NAT)
    assert [o["name"] for o in by_name] == [SOURCE_NAT]
    in_zone = admin.list("listNetworkOfferings", zoneid=zone["id"], pagesize=-1)
    texts = {o["displaytext"] for o in in_zone}
    assert "Offering for Isolated Vpc networks with Source Nat service enabled" in texts
    assert "Offering for Isolated networks with Source Nat service enabled" in texts
    # No Netscaler on this zone's physical network, and no security groups in the zone.
    names = {o["name"] for o in in_zone}
    assert "DefaultSharedNetscalerEIPandELBNetworkOffering" not in names
    assert "DefaultSharedNetworkOfferingWithSGService" not in names
    basic, _ = sg_zone(admin, basic=True)
    assert {o["guestiptype"] for o in admin.list("listNetworkOfferings", zoneid=basic["id"])} == {"Shared"}
    vpc = admin.list("listNetworkOfferings", forvpc=True, isdefault=True)
    assert {o["name"] for o in vpc} == {"DefaultIsolatedNetworkOfferingForVpcNetworks",
                                        "DefaultIsolatedNetworkOfferingForVpcNetworksNoLB",
                                        "DefaultIsolatedNetworkOfferingForVpcNetworksWithInternalLB"}
    nat = admin.list("listNetworkOfferings", sourcenatsupported=True, isdefault=True, forvpc=False)
    assert {o["name"] for o in nat} == {SOURCE_NAT}
    lb = admin.list("listNetworkOfferings", supportedservices="Lb,SourceNat", guestiptype="Isolated",
                    isdefault=True, forvpc=False)
    assert [o["name"] for o in lb] == [SOURCE_NAT]
    assert admin.list("listNetworkOfferings", name=unique("none")) == []


def test_create_offering_validates_providers_and_flags(admin):
    def create(**params):
        base = {"name": unique("no"), "displaytext": "x", "guestiptype": "Isolated", "traffictype": "GUEST"}
        return admin("createNetworkOffering", **{**base, **params})

    bad = refused(create, supportedservices="Dhcp,SecurityGroup",
                  serviceproviderlist=[{"service": "Dhcp", "provider": "SecurityGroupProvider"}])
    assert bad.errorcode == 431 and "SecurityGroupProvider doesn't support service Dhcp" in bad.errortext
    netscaler_dns = refused(create, supportedservices="Dns",
                            serviceproviderlist=[{"service": "Dns", "provider": "Netscaler"}])
    assert netscaler_dns.errorcode == 431 and "Netscaler" in netscaler_dns.errortext
    sg = refused(create, supportedservices="SecurityGroup")
    assert sg.errorcode == 431 and "Shared" in sg.errortext
    shared = refused(create, guestiptype="Shared", supportedservices="Dhcp", specifyvlan=True)
    assert shared.errorcode == 431 and "SpecifyIpRanges" in shared.errortext
    l2 = refused(create, guestiptype="L2", supportedservices="Dhcp")
    assert l2.errorcode == 431 and "L2" in l2.errortext
    required = refused(create, supportedservices="SourceNat,Dhcp", availability="Required")
    assert required.errorcode == 431 and "Required" in required.errortext
    unknown = refused(create, supportedservices="Teleport")
    assert unknown.errorcode == 431
    vpc_vr = refused(create, supportedservices="Dhcp", forvpc=True,
                     serviceproviderlist=[{"service": "Dhcp", "provider": "VirtualRouter"}])
    assert vpc_vr.errorcode == 431 and "VPC" in vpc_vr.errortext
    capability = refused(create, supportedservices="SourceNat", servicecapabilitylist=[
        {"service": "SourceNat", "capabilitytype": "SupportedSourceNatTypes",
         "capabilityvalue": "perplanet"}])
    assert capability.errorcode == 431 and "perplanet" in capability.errortext

    row = create(supportedservices="Dhcp,Dns,SourceNat,StaticNat", servicecapabilitylist=[
        {"service": "SourceNat", "capabilitytype": "SupportedSourceNatTypes", "capabilityvalue": "perzone"}])
    assert row["state"] == "Disabled" and row["egressdefaultpolicy"] is True
    chosen = ("Dhcp", "Dns", "SourceNat", "StaticNat", "Gateway")
    assert services(row) == {s: {"VirtualRouter"} for s in chosen}
    nat = next(s for s in row["service"] if s["name"] == "SourceNat")
    assert {"name": "SupportedSourceNatTypes", "value": "perzone", "canchooseservicecapability": False} \
        in nat["capability"]
    duplicate = refused(create, name=row["name"])
    assert duplicate.errorcode == 431 and "already exists" in duplicate.errortext
    updated = admin("updateNetworkOffering", id=row["id"], name=row["name"] + "-b", displaytext="renamed",
                    state="Enabled", sortkey=3, tags="fast")
    assert (updated["name"], updated["displaytext"], updated["state"], updated["tags"]) == \
        (row["name"] + "-b", "renamed", "Enabled", "fast")
    assert admin.list("listNetworkOfferings", id=row["id"], istagged=True)[0]["id"] == row["id"]
    default = refused(admin, "deleteNetworkOffering", id=offering(admin, "DefaultL2NetworkOffering")["id"])
    assert default.errorcode == 431 and "Default" in default.errortext
    assert admin("deleteNetworkOffering", id=row["id"]) == {"success": True}
    assert refused(admin.list, "listNetworkOfferings", id=row["id"]).errorcode == 431


def test_users_see_enabled_offerings_only(admin, account_factory):
    _, _, user = account_factory()
    hidden = admin("createNetworkOffering", name=unique("off"), displaytext="off", guestiptype="Isolated",
                   traffictype="GUEST", supportedservices="Dhcp")
    assert user.list("listNetworkOfferings", id=hidden["id"]) == []
    assert offering(user, SOURCE_NAT)["availability"] == "Required"
    denied = refused(user, "createNetworkOffering", name=unique("x"), guestiptype="Isolated",
                     traffictype="GUEST")
    assert denied.errorcode == 401


# ---- VPC offerings --------------------------------------------------------------------------------

def test_vpc_offerings_seeded_and_the_nuage_step_of_the_ansible_container(admin):
    rows = {o["name"]: o for o in admin.list("listVPCOfferings", pagesize=-1)}
    for name in ("Default VPC offering", "Default VPC  offering with Netscaler", "Redundant VPC offering"):
        assert rows[name]["state"] == "Enabled" and rows[name]["displaytext"] == name
    default = rows["Default VPC offering"]
    assert default["isdefault"] is True
    assert services(default)["Lb"] == {"VpcVirtualRouter", "InternalLbVm"}
    assert services(default)["NetworkACL"] == {"VpcVirtualRouter"}
    assert services(rows["Default VPC  offering with Netscaler"])["Lb"] == {"Netscaler", "InternalLbVm"}
    redundant = admin.list("listVPCOfferings", name="Redundant VPC offering")
    assert [o["name"] for o in redundant] == ["Redundant VPC offering"]
    # The container's post-deploy step: disable whatever matches "Nuage".
    nuage = admin("createVPCOffering", name=f"Nuage VSP VPC Offering {unique('n')}", displaytext="Nuage VSP",
                  supportedservices="Dhcp,SourceNat,StaticNat,NetworkACL,Connectivity,UserData,Dns",
                  serviceproviderlist=[{"service": s, "provider": "NuageVsp"}
                                       for s in ("Dhcp", "SourceNat", "StaticNat", "NetworkACL",
                                                 "Connectivity")],
                  enable=True)
    matches = admin.list("listVPCOfferings", listall=True, name="Nuage")
    assert nuage["id"] in {o["id"] for o in matches}
    for match in matches:
        assert admin("updateVPCOffering", id=match["id"], state="Disabled")["state"] == "Disabled"
    assert admin.list("listVPCOfferings", id=nuage["id"])[0]["state"] == "Disabled"
    vr = refused(admin, "createVPCOffering", name=unique("v"), displaytext="v", supportedservices="Dhcp",
                 serviceproviderlist=[{"service": "Dhcp", "provider": "VirtualRouter"}])
    assert vr.errorcode == 431
    locked = refused(admin, "deleteVPCOffering", id=default["id"])
    assert locked.errorcode == 431
    assert admin("deleteVPCOffering", id=nuage["id"]) == {"success": True}


# ---- guest networks -------------------------------------------------------------------------------

def test_isolated_network_create_list_update_delete(admin, db):
    zone, pnet, _ = advanced_zone(admin, hosts=0)
    network = admin("createNetwork", name=unique("iso"), displaytext="isolated", zoneid=zone["id"],
                    networkofferingid=offering(admin, SOURCE_NAT)["id"])
    assert (network["state"], network["type"], network["acltype"], network["account"]) == \
        ("Allocated", "Isolated", "Account", "admin")
    assert (network["cidr"], network["gateway"], network["netmask"]) == \
        ("10.1.1.0/24", "10.1.1.1", "255.255.255.0")
    assert network["networkdomain"] == "cs2cloud.internal" and network["physicalnetworkid"] == pnet["id"]
    assert (network["networkofferingname"], network["networkofferingavailability"]) == \
        (SOURCE_NAT, "Required")
    assert "SourceNat" in services(network) and network["canusefordeploy"] is True
    assert network["dns1"] == "8.8.8.8" and "vlan" not in network and network["issystem"] is False
    assert [n["id"] for n in admin.list("listNetworks", zoneid=zone["id"])] == [network["id"]]
    assert admin.list("listNetworks", zoneid=zone["id"], type="Shared") == []
    assert admin.list("listNetworks", zoneid=zone["id"],
                      supportedservices="SourceNat")[0]["id"] == network["id"]
    assert admin.list("listNetworks", zoneid=zone["id"], keyword="isolat")[0]["id"] == network["id"]
    assert admin.list("listNetworks", zoneid=zone["id"], canusefordeploy=True)[0]["id"] == network["id"]
    assert admin.list("listNetworks", zoneid=zone["id"], forvpc=True) == []
    updated = admin("updateNetwork", id=network["id"], name="renamed", displaytext="new text",
                    networkdomain="example.test", guestvmcidr="10.1.1.0/25")
    assert (updated["name"], updated["displaytext"], updated["networkdomain"]) == \
        ("renamed", "new text", "example.test")
    assert (updated["cidr"], updated["networkcidr"], updated["reservediprange"]) == \
        ("10.1.1.0/25", "10.1.1.0/24", "10.1.1.128-10.1.1.255")
    outside = refused(admin, "updateNetwork", id=network["id"], guestvmcidr="10.9.0.0/25")
    assert outside.errorcode == 431 and "not a subset" in outside.errortext
    shared = offering(admin, "DefaultSharedNetworkOffering")
    other_type = refused(admin, "updateNetwork", id=network["id"], networkofferingid=shared["id"])
    assert other_type.errorcode == 431 and "guest type" in other_type.errortext
    assert admin("deleteNetwork", id=network["id"]) == {"success": True}
    assert admin.list("listNetworks", zoneid=zone["id"]) == []
    events = {e["type"] for e in admin.list("listEvents", listall=True, resourceid=network["id"])}
    assert {"NETWORK.CREATE", "NETWORK.UPDATE", "NETWORK.DELETE"} <= events
    assert vnets_taken(db, pnet) == []


def test_vlan_rules_of_specifyvlan_offerings(admin):
    zone, pnet, _ = advanced_zone(admin, hosts=0)
    specify = offering(admin, "DefaultIsolatedNetworkOffering")
    missing = refused(admin, "createNetwork", name=unique("n"), zoneid=zone["id"],
                      networkofferingid=specify["id"])
    assert missing.errorcode == 431 and "vlan is required" in missing.errortext
    network = admin("createNetwork", name=unique("n"), zoneid=zone["id"], networkofferingid=specify["id"],
                    vlan="800", gateway="10.8.0.1", netmask="255.255.255.0")
    assert (network["state"], network["vlan"], network["broadcasturi"]) == ("Setup", "800", "vlan://800")
    again = refused(admin, "createNetwork", name=unique("n"), zoneid=zone["id"],
                    networkofferingid=specify["id"],
                    vlan="800", gateway="10.9.0.1", netmask="255.255.255.0")
    assert again.errorcode == 431 and "already exists" in again.errortext
    dynamic = refused(admin, "createNetwork", name=unique("n"), zoneid=zone["id"],
                      networkofferingid=specify["id"],
                      vlan="605", gateway="10.9.0.1", netmask="255.255.255.0")
    assert dynamic.errorcode == 431 and "dynamic vlan allocation" in dynamic.errortext
    no_vlan = refused(admin, "createNetwork", name=unique("n"), zoneid=zone["id"],
                      networkofferingid=offering(admin, SOURCE_NAT)["id"], vlan="801")
    assert no_vlan.errorcode == 431 and "specifyvlan=false" in no_vlan.errortext
    disabled = admin("createNetworkOffering", name=unique("off"), displaytext="d", guestiptype="Isolated",
                     traffictype="GUEST", supportedservices="Dhcp")
    off = refused(admin, "createNetwork", name=unique("n"), zoneid=zone["id"],
                  networkofferingid=disabled["id"])
    assert off.errorcode == 431 and "Enabled" in off.errortext


def test_l2_networks(admin):
    zone, _, _ = advanced_zone(admin, hosts=0)
    l2 = admin("createNetwork", name=unique("l2"), zoneid=zone["id"],
               networkofferingid=offering(admin, "DefaultL2NetworkOffering")["id"])
    assert (l2["type"], l2["state"], l2.get("service", [])) == ("L2", "Allocated", [])
    assert "cidr" not in l2 and "gateway" not in l2 and "networkdomain" not in l2
    vlan = offering(admin, "DefaultL2NetworkOfferingVlan")
    assert refused(admin, "createNetwork", name=unique("l2"), zoneid=zone["id"],
                   networkofferingid=vlan["id"]).errorcode == 431
    tagged = admin("createNetwork", name=unique("l2"), zoneid=zone["id"], networkofferingid=vlan["id"],
                   vlan="850")
    assert (tagged["vlan"], tagged["state"]) == ("850", "Setup")
    admin("restartNetwork", id=tagged["id"])
    assert admin("deleteNetwork", id=l2["id"]) == {"success": True}


def test_shared_network_in_an_advanced_zone_with_security_groups(admin, account_factory):
    zone, pnet = sg_zone(admin, basic=False)
    pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.40.1",
                netmask="255.255.255.0",
                startip="172.16.40.2", endip="172.16.40.100")
    (sg,) = admin.list("listNetworkOfferings", name="DefaultSharedNetworkOfferingWithSGService")
    name = "Shared SG enabled network"
    network = admin("createNetwork", name=name, displaytext=name,
                    networkofferingid=sg["id"], zoneid=zone["id"], startip="10.60.0.10", endip="10.60.0.100",
                    gateway="10.60.0.1", netmask="255.255.255.0", vlan="100")
    assert (network["type"], network["acltype"], network["state"], network["vlan"]) == \
        ("Shared", "Domain", "Setup", "100")
    assert (network["domain"], network.get("account"), network["subdomainaccess"]) == ("ROOT", None, True)
    assert network["specifyipranges"] is True and "SecurityGroup" in services(network)
    pod_range = admin("createVlanIpRange", zoneid=zone["id"], podid=pod["id"], networkid=network["id"],
                      forvirtualnetwork=False, startip="10.60.0.110", endip="10.60.0.120")
    assert (pod_range["networkid"], pod_range["vlan"], pod_range["gateway"]) == \
        (network["id"], "vlan://100", "10.60.0.1")
    ranges = admin.list("listVlanIpRanges", networkid=network["id"])
    assert {r["description"] for r in ranges} == {"10.60.0.10-10.60.0.100", "10.60.0.110-10.60.0.120"}
    isolated = refused(admin, "createNetwork", name=unique("n"), zoneid=zone["id"],
                       networkofferingid=offering(admin, SOURCE_NAT)["id"])
    assert isolated.errorcode == 431 and "security group enabled" in isolated.errortext
    overlap = refused(admin, "createNetwork", name=unique("n"), networkofferingid=sg["id"], zoneid=zone["id"],
                      startip="10.60.0.50", endip="10.60.0.60", gateway="10.60.0.1", netmask="255.255.255.0",
                      vlan="101")
    assert overlap.errorcode == 431 and "overlaps" in overlap.errortext
    _, _, user = account_factory()
    assert [n["id"] for n in user.list("listNetworks", zoneid=zone["id"])] == [network["id"]]
    denied = refused(user, "deleteNetwork", id=network["id"])
    assert denied.errorcode == 531
    admin_only = refused(user, "createNetwork", name=unique("n"), networkofferingid=sg["id"],
                         zoneid=zone["id"])
    assert admin_only.errorcode == 531


def test_basic_zone_deployer_sequence(admin, account_factory):
    zone, pnet = sg_zone(admin, basic=True)
    (sg,) = admin.list("listNetworkOfferings", name="DefaultSharedNetworkOfferingWithSGService")
    network = admin("createNetwork", name="guestNetworkForBasicZone", displaytext="guestNetworkForBasicZone",
                    networkofferingid=sg["id"], zoneid=zone["id"])
    assert (network["type"], network["broadcastdomaintype"], network["acltype"]) == \
        ("Shared", "Native", "Domain")
    pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.15.1",
                netmask="255.255.255.0",
                startip="172.16.15.2", endip="172.16.15.254")
    guest = admin("createVlanIpRange", zoneid=zone["id"], podid=pod["id"], networkid=network["id"],
                  forvirtualnetwork=False, startip="60.147.41.2", endip="60.147.41.254",
                  gateway="60.147.41.1",
                  netmask="255.255.255.0")
    assert (guest["networkid"], guest["podid"], guest["vlan"]) == (network["id"], pod["id"], "untagged")
    podless = refused(admin, "createVlanIpRange", podid=pod["id"], forvirtualnetwork=False,
                      startip="60.147.42.2",
                      endip="60.147.42.9", gateway="60.147.42.1", netmask="255.255.255.0")
    assert podless.errorcode == 431 and "networkid" in podless.errortext
    second = refused(admin, "createNetwork", name=unique("n"), networkofferingid=sg["id"], zoneid=zone["id"])
    assert second.errorcode == 431 and "Only one guest network" in second.errortext
    isolated = refused(admin, "createNetwork", name=unique("n"), zoneid=zone["id"],
                       networkofferingid=offering(admin, SOURCE_NAT)["id"])
    assert isolated.errorcode == 431 and "Basic zone" in isolated.errortext
    listed = admin.list("listNetworks", zoneid=zone["id"], keyword="guestNetworkForBasicZone", listall=True)
    assert [n["id"] for n in listed] == [network["id"]]
    child = admin("createDomain", name=unique("child"))
    _, _, user = account_factory(domainid=child["id"])
    assert [n["id"] for n in user.list("listNetworks", zoneid=zone["id"])] == [network["id"]]
    # No VM has used it yet: restarting is a no-op, deleting gives back its range.
    assert admin("restartNetwork", id=network["id"]) == {"success": True}
    assert admin("deleteNetwork", id=network["id"]) == {"success": True}
    assert admin.list("listVlanIpRanges", zoneid=zone["id"]) == []


def test_isolated_networks_are_private_to_their_account(admin, account_factory):
    zone, _, _ = advanced_zone(admin, hosts=0, enabled=True)
    acct, _, owner = account_factory()
    _, _, other = account_factory()
    mine = owner("createNetwork", name=unique("mine"), zoneid=zone["id"],
                 networkofferingid=offering(owner, SOURCE_NAT)["id"])
    assert mine["account"] == acct["name"]
    assert [n["id"] for n in owner.list("listNetworks", zoneid=zone["id"])] == [mine["id"]]
    assert other.list("listNetworks", zoneid=zone["id"]) == []
    assert other.list("listNetworks", id=mine["id"]) == []
    for command in ("deleteNetwork", "restartNetwork", "updateNetwork"):
        assert refused(other, command, id=mine["id"]).errorcode == 531
    assert admin.list("listNetworks", zoneid=zone["id"]) == []
    assert [n["id"] for n in admin.list("listNetworks", zoneid=zone["id"], listall=True)] == [mine["id"]]
    by_account = admin.list("listNetworks", account=acct["name"], domainid=acct["domainid"],
                            zoneid=zone["id"])
    assert [n["id"] for n in by_account] == [mine["id"]]
    domain_net = refused(owner, "createNetwork", name=unique("d"), zoneid=zone["id"], acltype="Domain",
                         networkofferingid=offering(owner, SOURCE_NAT)["id"])
    assert domain_net.errorcode == 531
    specify = refused(owner, "createNetwork", name=unique("v"), zoneid=zone["id"], vlan="870",
                      networkofferingid=offering(admin, "DefaultIsolatedNetworkOffering")["id"])
    assert specify.errorcode == 531
    assert owner("deleteNetwork", id=mine["id"]) == {"success": True}


# ---- implementation and the virtual router ------------------------------------------------------

def test_persistent_network_is_implemented_with_a_running_router(admin, db):
    zone, pnet, _ = advanced_zone(admin)
    network = admin("createNetwork", name=unique("p"), zoneid=zone["id"],
                    networkofferingid=persistent_offering(admin)["id"])
    assert network["state"] == "Implemented" and network["ispersistent"] is True
    assert network["broadcasturi"] == "vlan://600" and network["vlan"] == "600"
    (router,) = admin.list("listRouters", networkid=network["id"], listall=True)
    assert router["name"].startswith("r-") and router["name"].endswith("-VM")
    assert (router["state"], router["role"], router["redundantstate"]) == \
        ("Running", "VIRTUAL_ROUTER", "UNKNOWN")
    assert (router["guestipaddress"], router["guestnetworkid"]) == ("10.1.1.1", network["id"])
    assert router["linklocalip"].startswith("169.254.") and router["requiresupgrade"] is False
    ((address, source_nat),) = allocated_public(db, zone)
    assert router["publicip"] == address and source_nat
    assert {n["traffictype"] for n in router["nic"]} == {"Guest", "Control", "Public"}
    assert memory_used(admin, zone) == ROUTER_MEMORY
    assert vnets_taken(db, pnet) == [600]
    usage = {row[0] for row in db("SELECT type FROM usage_event WHERE resource_uuid IN (SELECT uuid FROM "
                                  "user_ip_address WHERE public_ip_address = :a)", a=address)}
    assert usage == {"NET.IPASSIGN"}

    assert admin("stopRouter", id=router["id"])["state"] == "Stopped"
    assert memory_used(admin, zone) == 0
    assert admin("startRouter", id=router["id"])["state"] == "Running"
    assert admin("rebootRouter", id=router["id"])["state"] == "Running"
    assert router["serviceofferingname"] == "System Offering For Software Router"
    assert admin("restartNetwork", id=network["id"], cleanup=True) == {"success": True}
    (fresh,) = admin.list("listRouters", networkid=network["id"], listall=True)
    assert fresh["id"] != router["id"] and fresh["state"] == "Running" and fresh["publicip"] == address
    destroyed = admin("destroyRouter", id=fresh["id"])
    assert destroyed["id"] == fresh["id"]
    assert admin.list("listRouters", networkid=network["id"], listall=True) == []
    assert memory_used(admin, zone) == 0
    # The network keeps its VNET and address; restarting gives it a router again.
    admin("restartNetwork", id=network["id"])
    (again,) = admin.list("listRouters", networkid=network["id"], listall=True)
    assert again["state"] == "Running" and again["publicip"] == address
    events = {e["type"] for e in admin.list("listEvents", listall=True, pagesize=-1)}
    assert {"ROUTER.CREATE", "ROUTER.START", "ROUTER.STOP", "ROUTER.REBOOT", "ROUTER.DESTROY",
            "NETWORK.RESTART", "NET.IPASSIGN"} <= events

    assert admin("deleteNetwork", id=network["id"]) == {"success": True}
    assert admin.list("listRouters", zoneid=zone["id"], listall=True) == []
    assert allocated_public(db, zone) == [] and vnets_taken(db, pnet) == []
    assert memory_used(admin, zone) == 0
    usage = [row[0] for row in db("SELECT type FROM usage_event WHERE resource_name = :a ORDER BY id",
                                  a=address)]
    assert usage == ["NET.IPASSIGN", "NET.IPRELEASE"]


def test_list_routers_filters(admin):
    zone, _, pod = advanced_zone(admin)
    network = admin("createNetwork", name=unique("p"), zoneid=zone["id"],
                    networkofferingid=persistent_offering(admin)["id"])
    (router,) = admin.list("listRouters", zoneid=zone["id"], listall=True)
    assert router["podid"] == pod["id"] and router["account"] == "admin" and router["domain"] == "ROOT"
    assert admin.list("listRouters", id=router["id"])[0]["name"] == router["name"]
    assert admin.list("listRouters", zoneid=zone["id"], state="Stopped", listall=True) == []
    assert admin.list("listRouters", name=router["name"])[0]["id"] == router["id"]
    assert admin.list("listRouters", hostid=router["hostid"])[0]["id"] == router["id"]
    assert admin.list("listRouters", zoneid=zone["id"], forvpc=True) == []
    assert admin.list("listRouters", zoneid=zone["id"], version="4.22.0")[0]["id"] == router["id"]
    not_a_router = refused(admin, "stopRouter", id=unique("x"))
    assert not_a_router.errorcode == 431
    running = refused(admin, "startRouter", id=router["id"])
    assert isinstance(running, JobFailed) and running.errorcode == 431
    admin("deleteNetwork", id=network["id"])


def test_vnet_exhaustion_fails_the_third_implementation_and_gives_back(admin, db):
    zone, pnet, _ = advanced_zone(admin, vlans="640-641")
    persistent = persistent_offering(admin)
    first, second = (admin("createNetwork", name=unique("p"), zoneid=zone["id"],
                           networkofferingid=persistent["id"])
                     for _ in range(2))
    assert {first["vlan"], second["vlan"]} == {"640", "641"}
    name = unique("third")
    third = refused(admin, "createNetwork", name=name, zoneid=zone["id"], networkofferingid=persistent["id"])
    assert third.errorcode == 533 and "VNET" in third.errortext
    assert sorted(vnets_taken(db, pnet)) == [640, 641]
    assert len(allocated_public(db, zone)) == 2 and memory_used(admin, zone) == 2 * ROUTER_MEMORY
    (stuck,) = admin.list("listNetworks", name=name)
    assert stuck["state"] == "Allocated"
    # A VNET freed by deleting a network serves the waiting persistent network on restart.
    admin("deleteNetwork", id=first["id"])
    admin("restartNetwork", id=stuck["id"])
    assert admin.list("listNetworks", id=stuck["id"])[0]["state"] == "Implemented"
    assert sorted(vnets_taken(db, pnet)) == [640, 641]
    allocated_only = admin("createNetwork", name=unique("n"), zoneid=zone["id"],
                           networkofferingid=offering(admin, SOURCE_NAT)["id"])
    allocated = refused(admin, "restartNetwork", id=allocated_only["id"])
    assert isinstance(allocated, JobFailed) and "right state" in allocated.errortext


def test_public_address_exhaustion_gives_back_the_vnet(admin, db):
    zone, pnet, _ = advanced_zone(admin, public=("198.51.100.", 10, 10))
    persistent = persistent_offering(admin)
    admin("createNetwork", name=unique("p"), zoneid=zone["id"], networkofferingid=persistent["id"])
    second = refused(admin, "createNetwork", name=unique("p"), zoneid=zone["id"],
                     networkofferingid=persistent["id"])
    assert second.errorcode == 533 and "Insufficient address capacity" in second.errortext
    assert vnets_taken(db, pnet) == [600]


def test_failed_router_start_leaves_nothing_taken(admin, db):
    zone, pnet, _ = advanced_zone(admin)
    mock = admin("configureSimulator", name="StartCommand", value="result:fail", zoneid=zone["id"])
    name = unique("p")
    failed = refused(admin, "createNetwork", name=name, zoneid=zone["id"],
                     networkofferingid=persistent_offering(admin)["id"])
    assert failed.errorcode == 530 and "Simulated failure" in failed.errortext
    (network,) = admin.list("listNetworks", name=name)
    assert network["state"] == "Allocated" and "broadcasturi" not in network
    assert vnets_taken(db, pnet) == [] and allocated_public(db, zone) == []
    assert memory_used(admin, zone) == 0
    (router,) = admin.list("listRouters", networkid=network["id"], listall=True)
    assert router["state"] == "Stopped" and "publicip" not in router
    again = refused(admin, "restartNetwork", id=network["id"])
    assert isinstance(again, JobFailed) and again.errorcode == 530
    assert vnets_taken(db, pnet) == [] and allocated_public(db, zone) == []
    admin("cleanupSimulatorMock", id=mock["id"])
    admin("restartNetwork", id=network["id"])
    assert admin.list("listNetworks", id=network["id"])[0]["state"] == "Implemented"
    (router,) = admin.list("listRouters", networkid=network["id"], listall=True)
    assert router["state"] == "Running" and router["publicip"]
    errors = [e for e in admin.list("listEvents", listall=True, type="ROUTER.START") if e["level"] == "ERROR"]
    assert any(router["name"] in e["description"] for e in errors)


# ---- the interface of the VM work, driven in-process ---------------------------------------------

@pytest.fixture(scope="module")
def inprocess(server):
    """A management-server object of this process on the live server's database: contexts for calling
    the functions VM deployment uses (vm_networks, allocate_nics, prepare_networks, ...)."""
    from sandstack.core import auth
    from sandstack.core.context import Context
    from sandstack.core.server import ManagementServer

    ms = ManagementServer(server.db_url)

    def context():
        return Context(ms, None, auth.by_user_id(ms, 2))

    yield context
    ms.engine.dispose()


def rows(ctx, model, uuid):
    from sqlalchemy import select

    return ctx.db.scalars(select(model).where(model.uuid == uuid)).one()


def new_vm(ctx, zone_row, account_row):
    from sandstack.compute.models import VMInstance

    vm = VMInstance(name=unique("i"), type="User", state="Stopped", zone_id=zone_row.id,
                    account_id=account_row.id,
                    domain_id=account_row.domain_id)
    ctx.db.add(vm)
    ctx.db.flush()
    return vm


def test_vm_network_interface(admin, account_factory, inprocess, db):
    from sandstack.core.errors import ApiError
    from sandstack.iam.models import Account
    from sandstack.infra.models import DataCenter
    from sandstack.network import guest

    zone, pnet, _ = advanced_zone(admin, enabled=True)
    acct, _, user = account_factory()
    _, _, stranger = account_factory()
    ctx = inprocess()
    zone_row, owner = rows(ctx, DataCenter, zone["id"]), rows(ctx, Account, acct["id"])
    (network,) = guest.vm_networks(ctx, zone_row, owner, None)
    assert (network.name, network.state, network.guest_type) == \
        (f"{acct['name']}-network", "Allocated", "Isolated")
    assert guest.vm_networks(ctx, zone_row, owner, None)[0].id == network.id
    first, second = new_vm(ctx, zone_row, owner), new_vm(ctx, zone_row, owner)
    (nic,) = guest.allocate_nics(ctx, first, [network])
    assert (nic.ip4_address, nic.is_default, nic.device_id, nic.gateway) == ("10.1.1.2", True, 0, "10.1.1.1")
    assert nic.mac_address.startswith("02:00:")
    with pytest.raises(ApiError) as taken:
        guest.allocate_nics(ctx, second, [network], ip_address="10.1.1.2")
    assert taken.value.errorcode == 431 and "already in use" in taken.value.text
    with pytest.raises(ApiError) as outside:
        guest.allocate_nics(ctx, second, [network], ip_address="10.9.9.9")
    assert outside.value.errorcode == 431
    (chosen,) = guest.allocate_nics(ctx, second, [network], ip_map={network.uuid: "10.1.1.50"})
    assert chosen.ip4_address == "10.1.1.50" and chosen.mac_address != nic.mac_address
    ctx.commit()
    asyncio.run(guest.prepare_networks(ctx, first))
    ctx.commit()
    assert user.list("listNetworks", id=network.uuid)[0]["state"] == "Implemented"
    views = guest.nic_views(ctx, [first.id, second.id])
    assert (views[first.id][0]["broadcasturi"], views[first.id][0]["ipaddress"]) == ("vlan://600", "10.1.1.2")
    assert (views[second.id][0]["networkname"], views[second.id][0]["isdefault"]) == (network.name, True)
    assert admin.list("listRouters", networkid=network.uuid, listall=True)[0]["state"] == "Running"

    busy = refused(user, "deleteNetwork", id=network.uuid)
    assert isinstance(busy, JobFailed) and busy.errorcode == 536 and "active VMs" in busy.errortext
    stranger_row = rows(ctx, Account, stranger.list("listAccounts")[0]["id"])
    with pytest.raises(ApiError) as denied:
        guest.vm_networks(ctx, zone_row, stranger_row, [network])
    assert denied.value.errorcode == 531
    for vm in (first, second):
        guest.release_nics(ctx, vm)
        vm.removed, vm.state = guest.now(), "Expunging"
    ctx.commit()
    usage = [r[0] for r in db("SELECT type FROM usage_event WHERE resource_uuid = :u ORDER BY id",
                              u=first.uuid)]
    assert usage == ["NETWORK.OFFERING.ASSIGN", "NETWORK.OFFERING.REMOVE"]
    assert user("deleteNetwork", id=network.uuid) == {"success": True}
    assert vnets_taken(db, pnet) == [] and allocated_public(db, zone) == []
    ctx.close()


def test_vm_networks_in_shared_zones(admin, account_factory, inprocess):
    from sandstack.core.errors import ApiError
    from sandstack.iam.models import Account
    from sandstack.infra.models import DataCenter
    from sandstack.network import guest

    zone, _ = sg_zone(admin, basic=True)
    ctx = inprocess()
    zone_row = rows(ctx, DataCenter, zone["id"])
    acct, _, _ = account_factory()
    owner = rows(ctx, Account, acct["id"])
    with pytest.raises(ApiError) as none:
        guest.vm_networks(ctx, zone_row, owner, None)
    assert none.value.errorcode == 431 and "no default network" in none.value.text
    ctx.rollback()
    sg = offering(admin, "DefaultSharedNetworkOfferingWithSGService")
    network = admin("createNetwork", name="guestNetworkForBasicZone", networkofferingid=sg["id"],
                    zoneid=zone["id"])
    pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.16.1",
                netmask="255.255.255.0",
                startip="172.16.16.2", endip="172.16.16.20")
    admin("createVlanIpRange", podid=pod["id"], networkid=network["id"], forvirtualnetwork=False,
          startip="60.147.50.2", endip="60.147.50.3", gateway="60.147.50.1", netmask="255.255.255.0")
    (chosen,) = guest.vm_networks(ctx, zone_row, owner, None)
    assert chosen.uuid == network["id"]
    vms = [new_vm(ctx, zone_row, owner) for _ in range(3)]
    addresses = [guest.allocate_nics(ctx, vm, [chosen])[0].ip4_address for vm in vms[:2]]
    assert addresses == ["60.147.50.2", "60.147.50.3"]
    with pytest.raises(ApiError) as full:
        guest.allocate_nics(ctx, vms[2], [chosen])
    assert full.value.errorcode == 533
    ctx.rollback()
    vm = new_vm(ctx, zone_row, owner)
    guest.allocate_nics(ctx, vm, [chosen], ip_address="60.147.50.3")
    ctx.commit()
    assert admin.list("listNetworks", id=network["id"])[0]["canusefordeploy"] is True
    # The first VM to start brings up the network's router (guest NIC only, no source NAT).
    add_cluster(admin, zone, pod)
    asyncio.run(guest.prepare_networks(ctx, vm))
    ctx.commit()
    (router,) = admin.list("listRouters", networkid=network["id"], listall=True)
    assert (router["state"], router["guestipaddress"]) == ("Running", "60.147.50.2")
    assert "publicip" not in router
    listed = admin.list("listNetworks", id=network["id"])[0]
    assert (listed["state"], listed["canusefordeploy"]) == ("Setup", False)
    guest.release_nics(ctx, vm)
    vm.removed, vm.state = guest.now(), "Expunging"
    ctx.commit()
    ctx.close()
    admin("deleteNetwork", id=network["id"])
    assert admin.list("listRouters", zoneid=zone["id"], listall=True) == []


def test_change_service_for_router_and_network_offering(admin):
    zone, _, _ = advanced_zone(admin)
    network = admin("createNetwork", name=unique("p"), zoneid=zone["id"],
                    networkofferingid=persistent_offering(admin)["id"])
    (router,) = admin.list("listRouters", networkid=network["id"], listall=True)
    bigger = admin("createServiceOffering", name=unique("router"), displaytext="bigger router", issystem=True,
                   systemvmtype="domainrouter", cpunumber=1, cpuspeed=600, memory=512)
    running = refused(admin, "changeServiceForRouter", id=router["id"], serviceofferingid=bigger["id"])
    assert running.errorcode == 431 and "stopped" in running.errortext
    user_offering = admin.list("listServiceOfferings", name="Small Instance")[0]
    admin("stopRouter", id=router["id"])
    wrong = refused(admin, "changeServiceForRouter", id=router["id"], serviceofferingid=user_offering["id"])
    assert wrong.errorcode == 431
    changed = admin("changeServiceForRouter", id=router["id"], serviceofferingid=bigger["id"])
    assert changed["serviceofferingid"] == bigger["id"]
    admin("startRouter", id=router["id"])
    assert memory_used(admin, zone) == 512 * 1024**2
    # Another isolated offering: the network must be restarted to apply it.
    updated = admin("updateNetwork", id=network["id"], networkofferingid=offering(admin, SOURCE_NAT)["id"])
    assert (updated["networkofferingname"], updated["restartrequired"]) == (SOURCE_NAT, True)
    assert admin.list("listNetworks", restartrequired=True, id=network["id"])[0]["id"] == network["id"]
    admin("restartNetwork", id=network["id"])
    assert admin.list("listNetworks", id=network["id"])[0]["restartrequired"] is False
    admin("deleteNetwork", id=network["id"])
    assert memory_used(admin, zone) == 0
    # Other suites list the system offerings by type: leave only the default router offering.
    admin("deleteServiceOffering", id=bigger["id"])


def test_lists_answer_a_page_from_a_fixed_number_of_statements(admin, server):
    """listNetworks and listRouters read each related table once per page, never once per row."""
    from sandstack.core import auth
    from sandstack.core.context import Context, Params
    from sandstack.core.server import ManagementServer
    from sandstack.infra.models import DataCenter
    from sqlalchemy import event

    zone, _, _ = advanced_zone(admin, hosts=2)
    persistent = persistent_offering(admin)
    for _ in range(3):
        admin("createNetwork", name=unique("p"), zoneid=zone["id"], networkofferingid=persistent["id"])
    ms = ManagementServer(server.db_url)
    with ms.session() as session:
        zone_id = session.execute(text("SELECT id FROM data_center WHERE uuid = :u"),
                                  {"u": zone["id"]}).scalar()
    statements: list[str] = []
    event.listen(ms.engine, "before_cursor_execute", lambda *args, **kw: statements.append(args[2]))
    for command in ("listNetworks", "listRouters"):
        counts = []
        for pagesize in (1, 1, 3):  # the first call warms the caches (settings, domains)
            statements.clear()
            ctx = Context(ms, None, auth.by_user_id(ms, 2), ms.registry[command])
            zone_row = ctx.db.get(DataCenter, zone_id)
            params = Params(listall=True, page=1, pagesize=pagesize, zoneid=zone_row)
            result = ctx.command.handler(ctx, params)
            assert len(result.items) == pagesize
            counts.append(len(statements))
            ctx.close()
        assert counts[1] == counts[2], (command, counts)
    ms.engine.dispose()
