"""Public addresses and network rules → response objects, a page at a time (related rows read once)."""

from sqlalchemy import select

from ..compute.models import VMInstance
from ..core.listing import domain_paths
from ..core.responses import describe
from ..iam.models import Account
from ..infra.models import DataCenter, PhysicalNetwork, PublicIp, Vlan
from ..platform.tags import tags_for
from .models import (
    FirewallRule,
    LBHealthCheckPolicy,
    LBStickinessPolicy,
    LoadBalancerRule,
    Network,
    PortForwardingRule,
    StaticNat,
)


def by_id(ctx, model, ids) -> dict:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {row.id: row for row in ctx.db.scalars(select(model).where(model.id.in_(wanted)))}


def owners(ctx, rows) -> callable:
    """A function answering the owner fields (account, accountid, domainid, domain) of a row."""
    accounts = by_id(ctx, Account, (r.account_id for r in rows))
    paths = domain_paths(ctx)

    def fields(row) -> dict:
        account = accounts.get(row.account_id)
        path, domain_uuid = paths.get(row.domain_id, ("/", None))
        return {"account": account.account_name if account else None,
                "accountid": account.uuid if account else None, "domainid": domain_uuid,
                "domain": path.rstrip("/").rsplit("/", 1)[-1] or "ROOT" if domain_uuid else None}

    return fields


def cidrs(text: str | None) -> str | None:
    return text or None


# ---- public addresses ----------------------------------------------------------------------------

def public_ips(ctx, rows: list[PublicIp]) -> list[dict]:
    owner = owners(ctx, [r for r in rows if r.account_id is not None])
    zones = by_id(ctx, DataCenter, (r.zone_id for r in rows))
    vlans = by_id(ctx, Vlan, (r.vlan_id for r in rows))
    networks = by_id(ctx, Network, (r.network_id for r in rows))
    nats = {n.ip_address_id: n for n in ctx.db.scalars(select(StaticNat).where(
        StaticNat.ip_address_id.in_([r.id for r in rows])))} if rows else {}
    vms = by_id(ctx, VMInstance, (r.vm_id for r in rows if r.is_static_nat))
    tags = tags_for(ctx, "PublicIpAddress", [r.id for r in rows])
    def pnet_id(row):
        return row.physical_network_id or getattr(vlans.get(row.vlan_id), "physical_network_id", None)

    pnets = by_id(ctx, PhysicalNetwork, (pnet_id(r) for r in rows))
    answers = []
    for row in rows:
        answer = public_ip(row, owner, zones, vlans, networks, nats, vms, tags)
        pnet = pnets.get(pnet_id(row))
        answer["physicalnetworkid"] = pnet.uuid if pnet else None
        answers.append(answer)
    return answers


def public_ip(row, owner, zones, vlans, networks, nats, vms, tags) -> dict:
    zone, vlan, network = zones.get(row.zone_id), vlans.get(row.vlan_id), networks.get(row.network_id)
    answer = {
        "id": row.uuid, "ipaddress": row.public_ip_address, "allocated": row.allocated, "state": row.state,
        "zoneid": zone.uuid if zone else None, "zonename": zone.name if zone else None,
        "issourcenat": row.is_source_nat, "isstaticnat": row.is_static_nat, "issystem": row.is_system,
        "forvirtualnetwork": bool(vlan and vlan.vlan_type == "VirtualNetwork"),
        "vlanid": vlan.uuid if vlan else None, "vlanname": vlan.vlan_id if vlan else None,
        "associatednetworkid": network.uuid if network else None,
        "associatednetworkname": network.name if network else None,
        "networkid": network.uuid if network else None, "fordisplay": row.for_display,
        "isportable": False, "tags": tags.get(row.id, []),
    }
    if row.account_id is not None:
        answer.update(owner(row))
    vm, nat = vms.get(row.vm_id), nats.get(row.id)
    if row.is_static_nat and vm is not None:
        answer.update(virtualmachineid=vm.uuid, virtualmachinename=vm.name,
                      virtualmachinedisplayname=vm.display_name or vm.name, virtualmachinetype=vm.type,
                      vmipaddress=nat.guest_ip if nat else None)
    return answer


IP_FIELDS = describe("ipaddress", {
    "id": "public IP address id",
    "ipaddress": "public IP address",
    "allocated": "date the public IP address was acquired",
    "state": "State of the ip address. Can be: Allocating, Allocated, Releasing, Reserved and Free",
    "zoneid": "the ID of the zone the public IP address belongs to",
    "zonename": "the name of the zone the public IP address belongs to",
    "issourcenat": "true if the IP address is a source nat address, false otherwise",
    "isstaticnat": "true if this ip is for static nat, false otherwise",
    "issystem": "true if this ip is system ip (was allocated as a part of deployVm or createLbRule)",
    "forvirtualnetwork": "the virtual network for the IP address",
    "vlanid": "the ID of the VLAN associated with the IP address",
    "vlanname": "the VLAN associated with the IP address",
    "associatednetworkid": "the ID of the Network associated with the IP address",
    "associatednetworkname": "the name of the Network associated with the IP address",
    "networkid": "the ID of the Network where ip belongs to",
    "physicalnetworkid": "the physical network this belongs to",
    "account": "the account the public IP address is associated with",
    "domainid": "the domain ID the public IP address is associated with",
    "domain": "the domain the public IP address is associated with",
    "virtualmachineid": "virtual machine id the ip address is assigned to",
    "virtualmachinename": "virtual machine name the ip address is assigned to",
    "virtualmachinedisplayname": "virtual machine display name the ip address is assigned to",
    "vmipaddress": "virtual machine (dnat) ip address (not null only for static nat Ip)",
    "fordisplay": "is public ip for display to the regular user",
    "tags": "the list of resource tags associated with ip address",
})
describe("publicipaddress", IP_FIELDS)


# ---- firewall, port forwarding and IP forwarding rules ------------------------------------------

def rule_base(row: FirewallRule, ips: dict, tags: dict) -> dict:
    ip = ips.get(row.ip_address_id)
    return {"id": row.uuid, "protocol": row.protocol, "state": row.state, "cidrlist": cidrs(row.source_cidrs),
            "ipaddressid": ip.uuid if ip else None, "ipaddress": ip.public_ip_address if ip else None,
            "fordisplay": row.for_display, "tags": tags.get(row.id, [])}


def firewall_rules(ctx, rows: list[FirewallRule]) -> list[dict]:
    ips = by_id(ctx, PublicIp, (r.ip_address_id for r in rows))
    networks = by_id(ctx, Network, (r.network_id for r in rows))
    tags = tags_for(ctx, "FirewallRule", [r.id for r in rows])
    answers = []
    for row in rows:
        answer = rule_base(row, ips, tags)
        answer.update(startport=row.start_port, endport=row.end_port, icmptype=row.icmp_type,
                      icmpcode=row.icmp_code, traffictype=row.traffic_type,
                      networkid=networks[row.network_id].uuid if row.network_id in networks else None,
                      destcidrlist=cidrs(row.destination_cidrs))
        answers.append(answer)
    return answers


def port_forwarding_rules(ctx, rows: list[FirewallRule]) -> list[dict]:
    details = by_id(ctx, PortForwardingRule, (r.id for r in rows))
    ips = by_id(ctx, PublicIp, (r.ip_address_id for r in rows))
    vms = by_id(ctx, VMInstance, (d.instance_id for d in details.values()))
    networks = by_id(ctx, Network, (r.network_id for r in rows))
    tags = tags_for(ctx, "PortForwardingRule", [r.id for r in rows])
    answers = []
    for row in rows:
        detail = details.get(row.id)
        vm = vms.get(detail.instance_id) if detail else None
        answer = rule_base(row, ips, tags)
        answer.update(publicport=str(row.start_port), publicendport=str(row.end_port),
                      privateport=str(detail.dest_port_start) if detail else None,
                      privateendport=str(detail.dest_port_end) if detail else None,
                      virtualmachineid=vm.uuid if vm else None, virtualmachinename=vm.name if vm else None,
                      virtualmachinedisplayname=(vm.display_name or vm.name) if vm else None,
                      vmguestip=detail.dest_ip_address if detail else None,
                      networkid=networks[row.network_id].uuid if row.network_id in networks else None)
        answers.append(answer)
    return answers


def ip_forwarding_rules(ctx, rows: list[FirewallRule]) -> list[dict]:
    ips = by_id(ctx, PublicIp, (r.ip_address_id for r in rows))
    nats = {}
    if rows:
        nats = {n.ip_address_id: n for n in ctx.db.scalars(select(StaticNat).where(
            StaticNat.ip_address_id.in_([r.ip_address_id for r in rows])))}
    vms = by_id(ctx, VMInstance, (n.instance_id for n in nats.values()))
    answers = []
    for row in rows:
        nat = nats.get(row.ip_address_id)
        vm = vms.get(nat.instance_id) if nat else None
        answer = rule_base(row, ips, {})
        answer.update(startport=row.start_port, endport=row.end_port,
                      virtualmachineid=vm.uuid if vm else None, virtualmachinename=vm.name if vm else None,
                      virtualmachinedisplayname=(vm.display_name or vm.name) if vm else None,
                      vmguestip=nat.guest_ip if nat else None)
        answers.append(answer)
    return answers


_RULE = {
    "id": "the ID of the rule",
    "protocol": "the protocol of the rule",
    "state": "the state of the rule",
    "cidrlist": "the cidr list to forward traffic from. Multiple entries are separated by a single comma "
                "character (,).",
    "ipaddressid": "the public ip address id for the rule",
    "ipaddress": "the public ip address for the rule",
    "fordisplay": "is firewall for display to the regular user",
    "tags": "the list of resource tags associated with the rule",
}
describe("firewallrule", {
    **_RULE,
    "startport": "the starting port of firewall rule's port range",
    "endport": "the ending port of firewall rule's port range",
    "icmptype": "type of the icmp message being sent",
    "icmpcode": "error code for this icmp message",
    "networkid": "the network id of the firewall rule",
    "traffictype": "the traffic type for the firewall rule",
    "destcidrlist": "the cidr list to forward traffic to.",
})
describe("portforwardingrule", {**_RULE, "privateport": "the starting port of port forwarding rule's private "
                                "port range", "privateendport": "the ending port of port forwarding rule's "
                                "private port range", "publicport": "the starting port of port forwarding "
                                "rule's public port range", "publicendport": "the ending port of port "
                                "forwarding rule's public port range", "virtualmachineid": "the VM ID for "
                                "the port forwarding rule", "virtualmachinename": "the VM name for the port "
                                "forwarding rule", "virtualmachinedisplayname": "the VM display name for the "
                                "port forwarding rule", "vmguestip": "the vm ip address for the port "
                                "forwarding rule", "networkid": "the id of the guest network the port "
                                "forwarding rule belongs to"})
describe("ipforwardingrule", {**_RULE, "startport": "the start port of the rule", "endport": "the end port "
                              "of the rule", "virtualmachineid": "the VM ID for the port forwarding rule",
                              "virtualmachinename": "the VM name for the port forwarding rule",
                              "virtualmachinedisplayname": "the VM display name for the port forwarding rule",
                              "vmguestip": "the vm ip address for the port forwarding rule"})


# ---- load balancing -------------------------------------------------------------------------------

def load_balancer_rules(ctx, rows: list[FirewallRule]) -> list[dict]:
    details = by_id(ctx, LoadBalancerRule, (r.id for r in rows))
    ips = by_id(ctx, PublicIp, (r.ip_address_id for r in rows))
    networks = by_id(ctx, Network, (r.network_id for r in rows))
    zones = by_id(ctx, DataCenter, (n.zone_id for n in networks.values()))
    owner = owners(ctx, rows)
    tags = tags_for(ctx, "LoadBalancer", [r.id for r in rows])
    answers = []
    for row in rows:
        lb, ip, network = details.get(row.id), ips.get(row.ip_address_id), networks.get(row.network_id)
        zone = zones.get(network.zone_id) if network else None
        answers.append({
            "id": row.uuid, "name": lb.name if lb else None, "description": lb.description if lb else None,
            "publicipid": ip.uuid if ip else None, "publicip": ip.public_ip_address if ip else None,
            "publicport": str(row.start_port), "privateport": str(lb.default_port_start) if lb else None,
            "algorithm": lb.algorithm if lb else None, "protocol": (lb.lb_protocol if lb else None) or
            row.protocol, "cidrlist": cidrs(row.source_cidrs), "state": row.state,
            "networkid": network.uuid if network else None, "zoneid": zone.uuid if zone else None,
            "zonename": zone.name if zone else None, "fordisplay": row.for_display,
            "tags": tags.get(row.id, []), **owner(row)})
    return answers


def stickiness(ctx, rule: FirewallRule, policies: list[LBStickinessPolicy]) -> dict:
    import json

    return {**lb_policy_base(ctx, rule),
            "name": policies[0].name if len(policies) == 1 else None,
            "stickinesspolicy": [{"id": p.uuid, "name": p.name, "description": p.description,
                                  "methodname": p.method_name, "params": json.loads(p.params or "{}") or None,
                                  "state": "Revoked" if p.state == "Revoke" else "Active",
                                  "fordisplay": p.for_display} for p in policies]}


def health_checks(ctx, rule: FirewallRule, policies: list[LBHealthCheckPolicy]) -> dict:
    return {**lb_policy_base(ctx, rule),
            "healthcheckpolicy": [{"id": p.uuid, "pingpath": p.ping_path, "description": p.description,
                                   "responsetime": p.response_time, "healthcheckinterval": p.interval,
                                   "healthcheckthresshold": p.healthy_threshold,
                                   "unhealthcheckthresshold": p.unhealthy_threshold,
                                   "state": "Revoked" if p.state == "Revoke" else "Active",
                                   "fordisplay": p.for_display} for p in policies]}


def lb_policy_base(ctx, rule: FirewallRule) -> dict:
    network = ctx.db.get(Network, rule.network_id)
    zone = ctx.db.get(DataCenter, network.zone_id) if network else None
    fields = owners(ctx, [rule])(rule)
    return {"lbruleid": rule.uuid, "account": fields["account"], "domainid": fields["domainid"],
            "domain": fields["domain"], "zoneid": zone.uuid if zone else None, "state": rule.state}


describe("loadbalancerrule", {
    "id": "the load balancer rule ID",
    "name": "the name of the load balancer",
    "description": "the description of the load balancer",
    "publicipid": "the public ip address id",
    "publicip": "the public ip address",
    "publicport": "the public port",
    "privateport": "the private port",
    "algorithm": "the load balancer algorithm (source, roundrobin, leastconn)",
    "protocol": "the protocol of the loadbalanacer rule",
    "cidrlist": "the CIDR list to allow traffic, all other CIDRs will be blocked. Multiple entries must be "
                "separated by a single comma character (,).",
    "state": "the state of the rule",
    "networkid": "the id of the guest network the lb rule belongs to",
    "zoneid": "the id of the zone the rule belongs to",
    "zonename": "the name of the zone the load balancer rule belongs to",
    "account": "the account of the load balancer rule",
    "domainid": "the domain ID of the load balancer rule",
    "domain": "the domain of the load balancer rule",
    "fordisplay": "is rule for display to the regular user",
    "tags": "the list of resource tags associated with load balancer",
})
describe("stickinesspolicies", {
    "lbruleid": "the LB rule ID",
    "name": "the name of the Stickiness policy",
    "account": "the account of the Stickiness policy",
    "domainid": "the domain ID of the Stickiness policy",
    "domain": "the domain of the Stickiness policy",
    "zoneid": "the id of the zone the Stickiness policy belongs to",
    "state": "the state of the policy",
    "stickinesspolicy": "the list of stickinesspolicies",
})
describe("healthcheckpolicies", {
    "lbruleid": "the LB rule ID",
    "account": "the account of the HealthCheck policy",
    "domainid": "the domain ID of the HealthCheck policy",
    "domain": "the domain of the HealthCheck policy",
    "zoneid": "the id of the zone the HealthCheck policy belongs to",
    "healthcheckpolicy": "the list of healthcheckpolicies",
})
