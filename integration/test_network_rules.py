"""Public addresses and the rules on them, end to end: associate/release, static NAT and IP forwarding,
firewall and port forwarding (conflicts, openfirewall), load balancing with its policies, egress rules,
security groups in an Advanced zone with security groups, libcloud's view of it all, and a virtual router
refusing rules (fault injection).

The isolated zone is the VM suite's (test_vms.build_vm_zone): deploying a VM implements the account's
network, so its virtual router runs and every rule change goes through it.
"""

import pytest
from sqlalchemy import create_engine, text

from marvin.errors import JobFailed

from .conftest import unique
from .test_networks import SOURCE_NAT, sg_zone
from .test_vms import add_cluster, build_vm_zone, deploy, refused


@pytest.fixture(scope="module")
def z(admin):
    return build_vm_zone(admin, hosts=2, public=("100.64.20.", 10, 90))


@pytest.fixture(scope="module")
def db(server):
    engine = create_engine(server.db_url)

    def query(sql: str, **params):
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()

    yield query
    engine.dispose()


def network_of(vm: dict) -> str:
    return vm["nic"][0]["networkid"]


def acquire(client, vm: dict) -> dict:
    return client("associateIpAddress", networkid=network_of(vm))


def source_nat(client, vm: dict) -> dict:
    (ip,) = client.list("listPublicIpAddresses", associatednetworkid=network_of(vm), issourcenat=True)
    return ip


# ---- public addresses -----------------------------------------------------------------------------

def test_associate_list_and_release(admin, account_factory, z, db):
    account, _, user = account_factory()
    vm = deploy(user, z)
    snat = source_nat(user, vm)
    assert snat["state"] == "Allocated" and snat["associatednetworkid"] == network_of(vm)
    ip = acquire(user, vm)
    assert (ip["state"], ip["issourcenat"], ip["isstaticnat"], ip["account"]) == \
        ("Allocated", False, False, account["name"])
    assert (ip["zoneid"], ip["vlanname"], ip["forvirtualnetwork"]) == (z.zone["id"], "vlan://50", True)
    assert ip["ipaddress"].startswith("100.64.20.") and ip["tags"] == []
    listed = {i["id"] for i in user.list("listPublicIpAddresses")}
    assert {ip["id"], snat["id"]} <= listed
    assert user.list("listPublicIpAddresses", id=ip["id"])[0]["ipaddress"] == ip["ipaddress"]
    assert user.list("listPublicIpAddresses", ipaddress=ip["ipaddress"])[0]["id"] == ip["id"]
    free = admin.list("listPublicIpAddresses", zoneid=z.zone["id"], allocatedonly=False, state="Free")
    assert free and all(f["state"] == "Free" for f in free)
    # The source NAT address goes with its network, never on its own.
    with pytest.raises(JobFailed) as snat_release:
        user("disassociateIpAddress", id=snat["id"])
    assert snat_release.value.errorcode == 431 and "source nat" in snat_release.value.errortext
    _, _, stranger = account_factory()
    assert refused(stranger, "disassociateIpAddress", id=ip["id"]).errorcode == 531
    assert refused(stranger, "createFirewallRule", ipaddressid=ip["id"], protocol="tcp",
                   startport=22).errorcode == 531
    # The account's public_ip limit counts what it holds (its source NAT address too).
    admin("updateResourceLimit", account=account["name"], domainid=account["domainid"], resourcetype=1, max=2)
    over = refused(user, "associateIpAddress", networkid=network_of(vm))
    assert over.errorcode == 532
    assert user("disassociateIpAddress", id=ip["id"]) == {"success": True}
    assert ip["id"] not in {i["id"] for i in user.list("listPublicIpAddresses")}
    # Given back to the zone (where a system VM may take it at once).
    (row,) = db("SELECT a.uuid FROM user_ip_address i LEFT JOIN account a ON a.id = i.account_id WHERE "
                "i.uuid = :u", u=ip["id"])
    assert row[0] != account["id"]
    usage = [r[0] for r in db("SELECT type FROM usage_event WHERE resource_uuid = :u ORDER BY id",
                              u=ip["id"])]
    assert usage == ["NET.IPASSIGN", "NET.IPRELEASE"]
    # An admin acquiring for the user's network acquires for the user (the network's owner).
    again = acquire(admin, vm)  # the limit slot came back with the release
    assert (again["state"], again["account"]) == ("Allocated", account["name"])


def test_associate_checks_its_parameters(admin, z):
    vm = deploy(admin, z)
    no_target = refused(admin, "associateIpAddress")
    assert no_target.errorcode == 431
    taken = source_nat(admin, vm)["ipaddress"]
    busy = refused(admin, "associateIpAddress", networkid=network_of(vm), ipaddress=taken)
    assert busy.errorcode == 431 and taken in busy.errortext
    chosen = "100.64.20.88"
    ip = admin("associateIpAddress", zoneid=z.zone["id"], networkid=network_of(vm), ipaddress=chosen)
    assert ip["ipaddress"] == chosen
    admin("disassociateIpAddress", id=ip["id"])


# ---- static NAT and IP forwarding -----------------------------------------------------------------

def test_static_nat_and_ip_forwarding(admin, z):
    vm = deploy(admin, z)
    ip = acquire(admin, vm)
    snat = source_nat(admin, vm)
    on_snat = refused(admin, "enableStaticNat", ipaddressid=snat["id"], virtualmachineid=vm["id"])
    assert on_snat.errorcode == 431 and "sourceNat" in on_snat.errortext
    assert admin("enableStaticNat", ipaddressid=ip["id"], virtualmachineid=vm["id"]) == {"success": True}
    (listed,) = admin.list("listPublicIpAddresses", id=ip["id"])
    assert (listed["isstaticnat"], listed["virtualmachineid"], listed["vmipaddress"]) == \
        (True, vm["id"], vm["nic"][0]["ipaddress"])
    nats = admin.list("listPublicIpAddresses", isstaticnat=True, associatednetworkid=network_of(vm))
    assert [n["id"] for n in nats] == [ip["id"]]
    twice = refused(admin, "enableStaticNat", ipaddressid=ip["id"], virtualmachineid=vm["id"])
    assert twice.errorcode == 431
    pf = refused(admin, "createPortForwardingRule", ipaddressid=ip["id"], protocol="tcp", publicport=22,
                 privateport=22, virtualmachineid=vm["id"])
    assert pf.errorcode == 537
    rule = admin("createIpForwardingRule", ipaddressid=ip["id"], protocol="tcp", startport=22)
    assert (rule["state"], rule["virtualmachineid"], rule["startport"], rule["endport"]) == \
        ("Active", vm["id"], 22, 22)
    assert [r["id"] for r in admin.list("listIpForwardingRules", virtualmachineid=vm["id"])] == [rule["id"]]
    opened = admin.list("listFirewallRules", ipaddressid=ip["id"])
    assert [(r["startport"], r["cidrlist"]) for r in opened] == [(22, "0.0.0.0/0")]
    assert admin("deleteIpForwardingRule", id=rule["id"]) == {"success": True}
    assert admin.list("listIpForwardingRules", ipaddressid=ip["id"]) == []
    assert admin.list("listFirewallRules", ipaddressid=ip["id"]) == []
    assert admin("disableStaticNat", ipaddressid=ip["id"]) == {"success": True}
    assert admin.list("listPublicIpAddresses", id=ip["id"])[0]["isstaticnat"] is False
    assert refused(admin, "createIpForwardingRule", ipaddressid=ip["id"], protocol="tcp",
                   startport=22).errorcode == 431
    admin("disassociateIpAddress", id=ip["id"])


# ---- firewall and port forwarding -----------------------------------------------------------------

def test_firewall_opens_a_range_and_port_forwarding_maps_inside_it(admin, z):
    vm = deploy(admin, z)
    ip = acquire(admin, vm)
    fw = admin("createFirewallRule", ipaddressid=ip["id"], protocol="tcp", startport=33, endport=44,
               cidrlist="0.0.0.0/0")
    assert (fw["state"], fw["startport"], fw["endport"], fw["cidrlist"], fw["ipaddress"]) == \
        ("Active", 33, 44, "0.0.0.0/0", ip["ipaddress"])
    pf = admin("createPortForwardingRule", ipaddressid=ip["id"], protocol="tcp", publicport=33,
               privateport=100, virtualmachineid=vm["id"], openfirewall=False)
    assert (pf["state"], pf["publicport"], pf["publicendport"], pf["privateport"], pf["privateendport"]) == \
        ("Active", "33", "33", "100", "100")
    assert (pf["virtualmachineid"], pf["vmguestip"], pf["networkid"]) == \
        (vm["id"], vm["nic"][0]["ipaddress"], network_of(vm))
    ssh = admin("createPortForwardingRule", ipaddressid=ip["id"], protocol="tcp", publicport=2222,
                privateport=22, virtualmachineid=vm["id"])
    opened = [r for r in admin.list("listFirewallRules", ipaddressid=ip["id"]) if r["startport"] == 2222]
    assert len(opened) == 1 and opened[0]["state"] == "Active"
    overlap = refused(admin, "createPortForwardingRule", ipaddressid=ip["id"], protocol="tcp",
                      publicport=2220, publicendport=2230, privateport=2220, privateendport=2230,
                      virtualmachineid=vm["id"], openfirewall=False)
    assert overlap.errorcode == 537
    assert overlap.errortext == \
        f"The range specified, 2220-2230, conflicts with rule {ssh['id']} which has 2222-2222"
    fw_overlap = refused(admin, "createFirewallRule", ipaddressid=ip["id"], protocol="tcp", startport=40,
                         endport=50)
    assert fw_overlap.errorcode == 537 and fw["id"] in fw_overlap.errortext
    udp = admin("createFirewallRule", ipaddressid=ip["id"], protocol="udp", startport=40, endport=50)
    assert udp["state"] == "Active"
    ping = admin("createFirewallRule", ipaddressid=ip["id"], protocol="icmp", icmptype=8, icmpcode=0)
    assert (ping["icmptype"], ping["icmpcode"]) == (8, 0)
    for bad in ({"protocol": "gre", "startport": 1}, {"protocol": "tcp", "startport": 70000},
                {"protocol": "tcp", "startport": 90, "endport": 80},
                {"protocol": "tcp", "startport": 1, "cidrlist": "10.0.0.300/8"},
                {"protocol": "icmp", "startport": 1}):
        assert refused(admin, "createFirewallRule", ipaddressid=ip["id"], **bad).errorcode == 431, bad
    uneven = refused(admin, "createPortForwardingRule", ipaddressid=ip["id"], protocol="tcp", publicport=60,
                     publicendport=61, privateport=60, virtualmachineid=vm["id"])
    assert uneven.errorcode == 431
    listed = admin.list("listPortForwardingRules", ipaddressid=ip["id"])
    assert {r["id"] for r in listed} == {pf["id"], ssh["id"]}
    admin("createTags", resourceids=pf["id"], resourcetype="PortForwardingRule",
          tags=[{"key": "role", "value": "web"}])
    tagged = admin.list("listPortForwardingRules", tags=[{"key": "role", "value": "web"}])
    assert [r["id"] for r in tagged] == [pf["id"]] and tagged[0]["tags"][0]["value"] == "web"
    moved = admin("updatePortForwardingRule", id=pf["id"], privateport=101)
    assert (moved["privateport"], moved["state"]) == ("101", "Active")
    hidden = admin("updateFirewallRule", id=udp["id"], fordisplay=False)
    assert hidden["fordisplay"] is False
    assert admin("deletePortForwardingRule", id=ssh["id"]) == {"success": True}
    assert all(r.get("startport") != 2222 for r in admin.list("listFirewallRules", ipaddressid=ip["id"]))
    for rule in admin.list("listFirewallRules", ipaddressid=ip["id"]):
        assert admin("deleteFirewallRule", id=rule["id"]) == {"success": True}
    # Releasing the address takes its last rules with it.
    assert admin("disassociateIpAddress", id=ip["id"]) == {"success": True}
    assert refused(admin.list, "listPortForwardingRules", id=pf["id"]).errorcode == 431


def test_a_router_refusing_rules_fails_the_job_and_the_rule_stays_add(admin, z):
    vm = deploy(admin, z)
    ip = acquire(admin, vm)
    (router,) = admin.list("listRouters", networkid=network_of(vm), listall=True)
    mock = admin("configureSimulator", name="SetPortForwardingRulesCommand", value="result:fail",
                 hostid=router["hostid"])
    try:
        started = admin.request("createPortForwardingRule", {
            "ipaddressid": ip["id"], "protocol": "tcp", "publicport": 8022, "privateport": 22,
            "virtualmachineid": vm["id"], "openfirewall": False})
        with pytest.raises(JobFailed) as failed:
            admin.wait(started["jobid"])
    finally:
        admin("cleanupSimulatorMock", id=mock["id"])
    assert failed.value.errorcode == 530 and router["name"] in failed.value.errortext
    (rule,) = admin.list("listPortForwardingRules", id=started["id"])
    assert rule["state"] == "Add"
    assert admin("deletePortForwardingRule", id=rule["id"]) == {"success": True}
    assert admin.list("listPortForwardingRules", ipaddressid=ip["id"]) == []
    # A router that restarts gets the network's rules again; one refusing them leaves them Add.
    fw = admin("createFirewallRule", ipaddressid=ip["id"], protocol="tcp", startport=8080)
    mock = admin("configureSimulator", name="SetFirewallRulesCommand", value="result:fail",
                 zoneid=z.zone["id"])
    try:
        assert admin("restartNetwork", id=network_of(vm), cleanup=True) == {"success": True}
    finally:
        admin("cleanupSimulatorMock", id=mock["id"])
    assert admin.list("listFirewallRules", id=fw["id"])[0]["state"] == "Add"
    (fresh,) = admin.list("listRouters", networkid=network_of(vm), listall=True)
    assert fresh["id"] != router["id"] and fresh["state"] == "Running"
    events = admin.list("listEvents", listall=True, type="ROUTER.RULES", pagesize=-1)
    assert any(e.get("resourceid") == fresh["id"] or fresh["name"] in e["description"] for e in events)
    more = admin("createFirewallRule", ipaddressid=ip["id"], protocol="tcp", startport=8081)
    states = {r["id"]: r["state"] for r in admin.list("listFirewallRules", ipaddressid=ip["id"])}
    assert states == {fw["id"]: "Active", more["id"]: "Active"}


def test_an_expunged_vm_and_a_deleted_network_take_their_rules(admin, z, db):
    network = admin("createNetwork", name=unique("gone"), displaytext="gone", zoneid=z.zone["id"],
                    networkofferingid=admin.list("listNetworkOfferings", name=SOURCE_NAT)[0]["id"])
    vm = deploy(admin, z, networkids=network["id"])
    nat_ip, pf_ip = acquire(admin, vm), acquire(admin, vm)
    admin("enableStaticNat", ipaddressid=nat_ip["id"], virtualmachineid=vm["id"])
    admin("createIpForwardingRule", ipaddressid=nat_ip["id"], protocol="tcp", startport=80)
    admin("createPortForwardingRule", ipaddressid=pf_ip["id"], protocol="tcp", publicport=22, privateport=22,
          virtualmachineid=vm["id"])
    lb = admin("createLoadBalancerRule", publicipid=pf_ip["id"], name=unique("lb"), algorithm="source",
               publicport=80, privateport=80)
    admin("assignToLoadBalancerRule", id=lb["id"], virtualmachineids=[vm["id"]])
    admin("destroyVirtualMachine", id=vm["id"], expunge=True)
    assert admin.list("listPortForwardingRules", networkid=network["id"]) == []
    assert admin.list("listIpForwardingRules", ipaddressid=nat_ip["id"]) == []
    assert admin.list("listLoadBalancerRuleInstances", id=lb["id"]) == []
    assert admin.list("listPublicIpAddresses", id=nat_ip["id"])[0]["isstaticnat"] is False
    left = {r["startport"] for r in admin.list("listFirewallRules", networkid=network["id"])}
    assert left == {80}  # the load balancer's own, which stays with its rule
    assert admin("deleteNetwork", id=network["id"]) == {"success": True}
    rows = db("SELECT COUNT(*) FROM firewall_rules f JOIN networks n ON n.id = f.network_id "
              "WHERE n.uuid = :u", u=network["id"])
    assert rows[0][0] == 0
    for ip in (nat_ip, pf_ip):
        (row,) = db("SELECT i.is_static_nat, a.uuid FROM user_ip_address i LEFT JOIN account a ON a.id = "
                    "i.account_id WHERE i.uuid = :u", u=ip["id"])
        assert not row[0] and row[1] != vm["accountid"]  # given back (a system VM may hold it now)


def test_the_router_configuration_follows_the_rules(admin, z, server):
    """What every rule command carries: the network's rules rendered as iptables and haproxy input."""
    from sandstack.network.models import Network
    from sandstack.network.router_config import render
    from sandstack.network.router_rules import config_for
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    network = admin("createNetwork", name=unique("cfg"), displaytext="cfg", zoneid=z.zone["id"],
                    networkofferingid=admin.list("listNetworkOfferings", name=SOURCE_NAT)[0]["id"])
    web, db_vm = deploy(admin, z, networkids=network["id"]), deploy(admin, z, networkids=network["id"])
    lb_ip, nat_ip = acquire(admin, web), acquire(admin, web)
    snat_row = source_nat(admin, web)
    snat = snat_row["ipaddress"]
    admin("createFirewallRule", ipaddressid=snat_row["id"], protocol="tcp", startport=22,
          cidrlist="192.0.2.0/24")
    admin("createPortForwardingRule", ipaddressid=snat_row["id"], protocol="tcp", publicport=22,
          privateport=2222, virtualmachineid=db_vm["id"], openfirewall=False)
    admin("enableStaticNat", ipaddressid=nat_ip["id"], virtualmachineid=db_vm["id"])
    lb = admin("createLoadBalancerRule", publicipid=lb_ip["id"], name="web", algorithm="source",
               publicport=80, privateport=8080)
    admin("assignToLoadBalancerRule", id=lb["id"], virtualmachineids=[web["id"], db_vm["id"]])
    admin("createEgressFirewallRule", networkid=network["id"], protocol="udp", startport=53)
    engine = create_engine(server.db_url)
    try:
        with Session(engine) as session:
            row = session.scalars(select(Network).where(Network.uuid == network["id"])).one()
            rendered = render(config_for(type("Ctx", (), {"db": session})(), row))
    finally:
        engine.dispose()
    lines = rendered["iptables"]
    web_ip, db_ip = web["nic"][0]["ipaddress"], db_vm["nic"][0]["ipaddress"]
    fw_chain = "FW_" + snat.replace(".", "_")
    assert f"-A {fw_chain} -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j RETURN" in lines
    assert f"-A PREROUTING -d {snat}/32 -p tcp -m tcp --dport 22 -j DNAT --to-destination {db_ip}:2222" \
        in lines
    assert f"-A PREROUTING -d {nat_ip['ipaddress']}/32 -j DNAT --to-destination {db_ip}" in lines
    assert f"-A POSTROUTING -s {network['cidr']} -o eth2 -j SNAT --to-source {snat}" in lines
    # The default offering's egress policy is deny: an egress rule allows, the rest is dropped.
    egress = [line for line in lines if line.startswith("-A FW_EGRESS_RULES")]
    assert egress == [f"-A FW_EGRESS_RULES -s {network['cidr']} -p udp -m udp --dport 53 -j ACCEPT",
                      "-A FW_EGRESS_RULES -j DROP"]
    assert lines[-2:] == ["-A INPUT -d " + lb_ip["ipaddress"] + "/32 -p tcp -m tcp --dport 80 -j ACCEPT",
                          "COMMIT"]
    haproxy = rendered["haproxy"]
    assert f"bind {lb_ip['ipaddress']}:80" in haproxy and "balance source" in haproxy
    assert f"{web_ip}:8080" in haproxy and f"{db_ip}:8080" in haproxy
    for vm in (web, db_vm):  # the admin's default network must stay its only one in the zone
        admin("destroyVirtualMachine", id=vm["id"], expunge=True)
    admin("deleteNetwork", id=network["id"])


# ---- load balancing ---------------------------------------------------------------------------------

def test_load_balancer_rule_with_two_vms_and_policies(admin, z):
    first = deploy(admin, z)
    second = deploy(admin, z, networkids=network_of(first))
    ip = acquire(admin, first)
    lb = admin("createLoadBalancerRule", publicipid=ip["id"], name=unique("lb"), algorithm="roundrobin",
               publicport=80, privateport=8080, description="web")
    assert (lb["state"], lb["publicip"], lb["publicport"], lb["privateport"], lb["algorithm"]) == \
        ("Active", ip["ipaddress"], "80", "8080", "roundrobin")
    assert (lb["networkid"], lb["zoneid"], lb["account"]) == (network_of(first), z.zone["id"], "admin")
    admin("assignToLoadBalancerRule", id=lb["id"], virtualmachineids=[first["id"], second["id"]])
    members = admin.list("listLoadBalancerRuleInstances", id=lb["id"])
    assert {m["id"] for m in members} == {first["id"], second["id"]}
    with_ips = admin.request("listLoadBalancerRuleInstances", {"id": lb["id"], "lbvmips": True})
    assert {tuple(e["lbvmipaddresses"]) for e in with_ips["lbrulevmidip"]} == \
        {(first["nic"][0]["ipaddress"],), (second["nic"][0]["ipaddress"],)}
    # applied=false: the VMs of the network not behind the rule yet (the admin's other VMs here).
    outside = {m["id"] for m in admin.list("listLoadBalancerRuleInstances", id=lb["id"], applied=False)}
    assert not outside & {first["id"], second["id"]}
    again = refused(admin, "assignToLoadBalancerRule", id=lb["id"], virtualmachineids=[first["id"]])
    assert again.errorcode == 431
    pf = refused(admin, "createPortForwardingRule", ipaddressid=ip["id"], protocol="tcp", publicport=80,
                 privateport=80, virtualmachineid=first["id"], openfirewall=False)
    assert pf.errorcode == 537 and lb["id"] in pf.errortext
    bad = refused(admin, "createLoadBalancerRule", publicipid=ip["id"], name="x", algorithm="random",
                  publicport=81, privateport=81)
    assert bad.errorcode == 431
    updated = admin("updateLoadBalancerRule", id=lb["id"], algorithm="leastconn", name="web-lb")
    assert (updated["algorithm"], updated["name"], updated["state"]) == ("leastconn", "web-lb", "Active")
    assert [r["id"] for r in admin.list("listLoadBalancerRules", publicipid=ip["id"])] == [lb["id"]]
    assert [r["id"] for r in admin.list("listLoadBalancerRules", name="web-lb", zoneid=z.zone["id"])] \
        == [lb["id"]]

    sticky = admin("createLBStickinessPolicy", lbruleid=lb["id"], name="cookie", methodname="LbCookie",
                   param={"cookie-name": "SRV"})
    (policy,) = sticky["stickinesspolicy"]
    assert (sticky["lbruleid"], policy["methodname"], policy["params"]) == \
        (lb["id"], "LbCookie", {"cookie-name": "SRV"})
    unknown = refused(admin, "createLBStickinessPolicy", lbruleid=lb["id"], name="x", methodname="Magic")
    assert unknown.errorcode == 431
    (listed,) = admin.list("listLBStickinessPolicies", lbruleid=lb["id"])
    assert [p["id"] for p in listed["stickinesspolicy"]] == [policy["id"]]
    check = admin("createLBHealthCheckPolicy", lbruleid=lb["id"], pingpath="/health", intervaltime=10,
                  responsetime=3)
    (health,) = check["healthcheckpolicy"]
    assert (health["pingpath"], health["healthcheckinterval"], health["responsetime"]) == ("/health", 10, 3)
    (listed,) = admin.list("listLBHealthCheckPolicies", lbruleid=lb["id"])
    assert [p["id"] for p in listed["healthcheckpolicy"]] == [health["id"]]
    assert admin("deleteLBHealthCheckPolicy", id=health["id"]) == {"success": True}
    assert admin("deleteLBStickinessPolicy", id=policy["id"]) == {"success": True}
    assert admin.list("listLBStickinessPolicies", lbruleid=lb["id"])[0].get("stickinesspolicy", []) == []

    admin("removeFromLoadBalancerRule", id=lb["id"], virtualmachineids=[second["id"]])
    assert [m["id"] for m in admin.list("listLoadBalancerRuleInstances", id=lb["id"])] == [first["id"]]
    assert second["id"] in {m["id"] for m in admin.list("listLoadBalancerRuleInstances", id=lb["id"],
                                                         applied=False)}
    assert admin("deleteLoadBalancerRule", id=lb["id"]) == {"success": True}
    assert admin.list("listLoadBalancerRules", publicipid=ip["id"]) == []
    assert admin.list("listFirewallRules", ipaddressid=ip["id"]) == []
    admin("disassociateIpAddress", id=ip["id"])


def test_libcloud_load_balancer_driver(server, admin, z):
    from libcloud.loadbalancer.base import Member
    from libcloud.loadbalancer.providers import get_driver
    from libcloud.loadbalancer.types import Provider

    vm = deploy(admin, z)
    keys = server.admin_keys()
    driver = get_driver(Provider.CLOUDSTACK)(keys["apikey"], keys["secretkey"], host="127.0.0.1",
                                             port=server.port, path="/client/api", secure=False)
    location = type("Location", (), {"id": z.zone["id"]})()
    balancer = driver.create_balancer(unique("lc"), [], port=8000, private_port=8080, location=location,
                                      network_id=network_of(vm))
    assert balancer is not None and balancer.port == "8000"
    driver.balancer_attach_member(balancer, Member(vm["id"], None, 8080))
    assert [m.id for m in driver.balancer_list_members(balancer)] == [vm["id"]]
    driver.destroy_balancer(balancer)
    assert balancer.id not in {r["id"] for r in admin.list("listLoadBalancerRules", listall=True)}


# ---- egress ---------------------------------------------------------------------------------------

def test_egress_firewall_rules(admin, z):
    vm = deploy(admin, z)
    network = network_of(vm)
    rule = admin("createEgressFirewallRule", networkid=network, protocol="tcp", startport=80, endport=443,
                 destcidrlist="203.0.113.0/24")
    assert (rule["traffictype"], rule["state"], rule["cidrlist"], rule["destcidrlist"]) == \
        ("Egress", "Active", "10.1.1.0/24", "203.0.113.0/24")
    outside = refused(admin, "createEgressFirewallRule", networkid=network, protocol="tcp", startport=22,
                      cidrlist="192.0.2.0/24")
    assert outside.errorcode == 431 and "not within the network cidr" in outside.errortext
    duplicate = refused(admin, "createEgressFirewallRule", networkid=network, protocol="tcp", startport=100,
                        endport=100, destcidrlist="203.0.113.0/24")
    assert duplicate.errorcode == 537
    all_out = admin("createEgressFirewallRule", networkid=network, protocol="all")
    assert [r["id"] for r in admin.list("listEgressFirewallRules", networkid=network)] == \
        [rule["id"], all_out["id"]]
    assert all(r["traffictype"] == "Ingress" for r in admin.list("listFirewallRules", networkid=network))
    assert admin("updateEgressFirewallRule", id=rule["id"], fordisplay=False)["fordisplay"] is False
    for egress in (rule, all_out):
        assert admin("deleteEgressFirewallRule", id=egress["id"]) == {"success": True}
    assert admin.list("listEgressFirewallRules", networkid=network) == []


# ---- libcloud ---------------------------------------------------------------------------------------

def test_libcloud_list_nodes_sees_addresses_and_rules(server, admin, z):
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    vm = deploy(admin, z)
    nat_ip, pf_ip = acquire(admin, vm), acquire(admin, vm)
    admin("enableStaticNat", ipaddressid=nat_ip["id"], virtualmachineid=vm["id"])
    admin("createIpForwardingRule", ipaddressid=nat_ip["id"], protocol="tcp", startport=80)
    keys = server.admin_keys()
    driver = get_driver(Provider.CLOUDSTACK)(keys["apikey"], keys["secretkey"], host="127.0.0.1",
                                             port=server.port, path="/client/api", secure=False)
    node = next(n for n in driver.list_nodes() if n.id == vm["id"])
    assert nat_ip["ipaddress"] in node.public_ips
    assert [r.start_port for r in node.extra["ip_forwarding_rules"]] == [80]
    address = next(a for a in driver.ex_list_public_ips() if a.id == pf_ip["id"])
    rule = driver.ex_create_port_forwarding_rule(node, address, 22, 2022, "tcp")
    listed = driver.ex_list_port_forwarding_rules(ipaddress_id=pf_ip["id"])
    assert [(r.id, r.public_port, r.private_port) for r in listed] == [(rule.id, "2022", "22")]
    assert pf_ip["ipaddress"] in next(n for n in driver.list_nodes() if n.id == vm["id"]).public_ips
    admin("deletePortForwardingRule", id=rule.id)
    admin("disableStaticNat", ipaddressid=nat_ip["id"])


# ---- security groups ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sg(admin):
    """An Enabled Advanced zone with security groups: its shared SG network, a host, storage, a template."""
    zone, _ = sg_zone(admin, basic=False)
    pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.50.1",
                netmask="255.255.255.0", startip="172.16.50.2", endip="172.16.50.100")
    (offering,) = admin.list("listNetworkOfferings", name="DefaultSharedNetworkOfferingWithSGService")
    network = admin("createNetwork", name=unique("sgnet"), displaytext="sg", networkofferingid=offering["id"],
                    zoneid=zone["id"], startip="10.70.0.10", endip="10.70.0.200", gateway="10.70.0.1",
                    netmask="255.255.255.0", vlan="120")
    cluster = add_cluster(admin, zone, pod, 1)[0]
    admin("createStoragePool", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"], name=unique("ps"),
          url=f"nfs://10.147.28.6:/export/{unique('primary')}")
    admin("addImageStore", provider="NFS", zoneid=zone["id"], name=unique("ss"),
          url=f"nfs://10.147.28.6:/export/{unique('secondary')}")
    admin("updateZone", id=zone["id"], allocationstate="Enabled")
    template = next(t for t in admin.list("listTemplates", templatefilter="featured", zoneid=zone["id"])
                    if t["name"] == "CentOS 5.6 (64-bit) no GUI (Simulator)")
    small = admin.list("listServiceOfferings", name="Small Instance")[0]
    return {"zone": zone, "network": network, "template": template, "small": small}


def sg_deploy(client, sg, **params) -> dict:
    return client("deployVirtualMachine", zoneid=sg["zone"]["id"], templateid=sg["template"]["id"],
                  serviceofferingid=sg["small"]["id"], networkids=sg["network"]["id"], **params)


def test_security_groups_in_an_advanced_zone(admin, account_factory, sg, z):
    account, _, user = account_factory()
    (default,) = user.list("listSecurityGroups")
    assert (default["name"], default["description"], default["account"]) == \
        ("default", "Default Security Group", account["name"])
    web = user("createSecurityGroup", name="web", description="web servers")
    assert (web["name"], web.get("ingressrule", []), web["account"]) == ("web", [], account["name"])
    assert refused(user, "createSecurityGroup", name="web").errorcode == 431
    assert refused(user, "createSecurityGroup", name="default").errorcode == 431
    ssh = user("authorizeSecurityGroupIngress", securitygroupid=web["id"], protocol="tcp", startport=22,
               endport=22, cidrlist="0.0.0.0/0,192.0.2.0/24")
    assert {(r["protocol"], r["startport"], r["cidr"]) for r in ssh["ingressrule"]} == \
        {("tcp", 22, "0.0.0.0/0"), ("tcp", 22, "192.0.2.0/24")}
    peers = user("authorizeSecurityGroupIngress", securitygroupname="web", protocol="all",
                 usersecuritygrouplist=[{"account": account["name"], "group": "default"}])
    (peer_rule,) = peers["ingressrule"]
    assert (peer_rule["securitygroupname"], peer_rule["account"]) == ("default", account["name"])
    ping = user("authorizeSecurityGroupEgress", securitygroupid=web["id"], protocol="icmp", icmptype=8,
                icmpcode=0, cidrlist="0.0.0.0/0")
    (egress,) = ping["egressrule"]
    assert (egress["icmptype"], egress["icmpcode"]) == (8, 0)
    assert refused(user, "authorizeSecurityGroupIngress", securitygroupid=web["id"], protocol="tcp",
                   startport=1).errorcode == 431  # neither cidrlist nor groups
    vm = sg_deploy(user, sg, securitygroupids=web["id"])
    assert [g["name"] for g in vm["securitygroup"]] == ["web"]
    plain = sg_deploy(user, sg)
    assert [g["name"] for g in plain["securitygroup"]] == ["default"]
    (listed,) = user.list("listSecurityGroups", virtualmachineid=vm["id"])
    assert listed["id"] == web["id"] and listed["virtualmachineids"] == [vm["id"]]
    assert len(listed["ingressrule"]) == 3 and len(listed["egressrule"]) == 1
    in_use = refused(user, "deleteSecurityGroup", id=web["id"])
    assert in_use.errorcode == 536
    assert refused(user, "deleteSecurityGroup", name="default").errorcode == 431
    # A host refusing the rule set fails the change, which is undone.
    mock = admin("configureSimulator", name="SecurityGroupRulesCmd", value="enabled:false",
                 zoneid=sg["zone"]["id"])
    try:
        with pytest.raises(JobFailed) as failed:
            user("authorizeSecurityGroupIngress", securitygroupid=web["id"], protocol="udp", startport=53,
                 cidrlist="0.0.0.0/0")
    finally:
        admin("cleanupSimulatorMock", id=mock["id"])
    assert failed.value.errorcode == 530
    assert len(user.list("listSecurityGroups", id=web["id"])[0]["ingressrule"]) == 3
    assert user("revokeSecurityGroupIngress", id=peer_rule["ruleid"]) == {"success": True}
    assert user("revokeSecurityGroupEgress", id=egress["ruleid"]) == {"success": True}
    wrong_kind = refused(user, "revokeSecurityGroupEgress", id=ssh["ingressrule"][0]["ruleid"])
    assert wrong_kind.errorcode == 431
    renamed = user("updateSecurityGroup", id=web["id"], name="www")
    assert renamed["name"] == "www"
    for server_vm in (vm, plain):
        admin("destroyVirtualMachine", id=server_vm["id"], expunge=True)
    assert user("deleteSecurityGroup", id=web["id"]) == {"success": True}
    outside = refused(admin, "deployVirtualMachine", zoneid=z.zone["id"], templateid=z.template["id"],
                      serviceofferingid=z.small["id"], securitygroupids=default["id"])
    assert outside.errorcode == 431 and "security group" in outside.errortext
