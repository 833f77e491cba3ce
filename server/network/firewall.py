"""Firewall rules: ingress on public addresses (all inbound traffic is refused until a rule opens it) and
egress from isolated guest networks (the offering's egress default policy decides what no rule says)."""

import ipaddress

from ..core.errors import InvalidParameter, PermissionDenied
from ..core.params import BOOLEAN, INTEGER, LIST, MAP, STRING, UUID, Param
from ..core.registry import command
from ..infra.models import PublicIp
from ..platform.tags import register_taggable
from . import rule_views as views
from . import rules
from .guest_creation import ISOLATED
from .models import FirewallRule, Network

register_taggable("FirewallRule", FirewallRule, FirewallRule.purpose == rules.FIREWALL)
PROTOCOLS = ("tcp", "udp", "icmp", "all")


def rule_fields(ctx, p) -> dict:
    """Protocol, ports and ICMP fields every firewall rule has, checked."""
    protocol = rules.check_protocol(p.protocol, PROTOCOLS)
    icmp_type, icmp_code = rules.check_icmp(protocol, p)
    start, end = rules.check_range(p.startport, p.endport)
    if protocol == "all" and start is not None:
        raise InvalidParameter("Can't specify start/end port when protocol is ALL")
    if p.type and p.type.lower() not in ("user", "system"):
        raise InvalidParameter(f"Invalid type {p.type}: valid values are user and system")
    if p.type and p.type.lower() == "system" and not (ctx.caller.is_root_admin or ctx.caller.is_system):
        raise PermissionDenied("Only root admins can create system firewall rules")
    return {"protocol": protocol, "icmp_type": icmp_type, "icmp_code": icmp_code, "start_port": start,
            "end_port": end, "type": "System" if (p.type or "").lower() == "system" else "User",
            "for_display": p.fordisplay is not False}


def make_ingress(ctx, p) -> FirewallRule:
    ip = p.ipaddressid
    network = rules.rule_network(ctx, ip, "Firewall", "firewall rule")
    cidrs = rules.check_cidrs(p.cidrlist) or [rules.ANY]
    rule = rules.new_rule(ctx, purpose=rules.FIREWALL, traffic_type=rules.INGRESS, **rule_fields(ctx, p),
                          source_cidrs=rules.joined(cidrs), ip_address_id=ip.id, network_id=network.id,
                          account_id=ip.account_id, domain_id=ip.domain_id)
    ctx.event("FIREWALL.OPEN", f"Firewall rule {rule.protocol} {rule.start_port}-{rule.end_port} created on "
                               f"{ip.public_ip_address}", resource_type="FirewallRule", resource_id=rule.uuid,
              account_id=rule.account_id, domain_id=rule.domain_id)
    return rule


RULE_PARAMS = [
    Param("protocol", STRING, required=True, description="the protocol for the firewall rule. Valid values "
                                                         "are TCP/UDP/ICMP/ALL or valid protocol number"),
    Param("startport", INTEGER, description="the starting port of firewall rule"),
    Param("endport", INTEGER, description="the ending port of firewall rule"),
    Param("icmptype", INTEGER, description="type of the ICMP message being sent"),
    Param("icmpcode", INTEGER, description="error code for this icmp message"),
    Param("type", STRING, description="type of firewallrule: system/user"),
    Param("fordisplay", BOOLEAN, description="an optional field, whether to the display the rule to the end "
                                             "user or not"),
]


@command("createFirewallRule", isasync=True, response="firewallrule", create=make_ingress,
         instance_type="FirewallRule", params=[
             Param("ipaddressid", UUID, entity=PublicIp, required=True,
                   description="the IP address id of the port forwarding rule"),
             *RULE_PARAMS,
             Param("cidrlist", LIST,
                   description="the CIDR list to forward traffic from. Multiple entries must be separated "
                               "by a single comma character (,)."),
         ])
async def create_firewall_rule(ctx, p):
    """Creates a firewall rule for a given IP address"""
    rule = ctx.created
    await rules.apply(ctx, ctx.db.get(Network, rule.network_id), rules.FIREWALL, rules.INGRESS)
    ctx.db.refresh(rule)
    return views.firewall_rules(ctx, [rule])[0]


@command("deleteFirewallRule", isasync=True, instance_type="FirewallRule", params=[
    Param("id", UUID, entity=FirewallRule, required=True, description="the ID of the firewall rule"),
])
async def delete_firewall_rule(ctx, p):
    """Deletes a firewall rule"""
    await rules.revoke(ctx, rules.check_revocable(p.id, rules.FIREWALL, rules.INGRESS))
    return {"success": True}


UPDATE_PARAMS = [
    Param("id", UUID, entity=FirewallRule, required=True, description="the ID of the firewall rule"),
    Param("fordisplay", BOOLEAN, description="an optional field, whether to the display the rule to the end "
                                             "user or not"),
    Param("customid", STRING, description="an optional field, in case you want to set a custom id to the "
                                          "resource. Allowed to Root Admins only"),
]


def update_rule(ctx, p, traffic: str) -> dict:
    rule = rules.check_revocable(p.id, rules.FIREWALL, traffic)
    if p.fordisplay is not None:
        rule.for_display = p.fordisplay
    if p.customid:
        if not (ctx.caller.is_root_admin or ctx.caller.is_system):
            raise PermissionDenied("Only root admins can set a custom id")
        rule.uuid = p.customid
    ctx.db.flush()
    return views.firewall_rules(ctx, [rule])[0]


@command("updateFirewallRule", isasync=True, response="firewallrule", instance_type="FirewallRule",
         params=UPDATE_PARAMS)
def update_firewall_rule(ctx, p):
    """Updates firewall rule"""
    return update_rule(ctx, p, rules.INGRESS)


@command("listFirewallRules", response="firewallrule", listing="owned", params=[
    Param("id", UUID, entity=FirewallRule, check_access=False,
          description="Lists rule with the specified ID."),
    Param("ipaddressid", UUID, entity=PublicIp, description="the ID of IP address of the firewall services"),
    Param("networkid", UUID, entity=Network, check_access=False,
          description="list firewall rules for certain network"),
    Param("fordisplay", BOOLEAN, description="list resources by display flag; only ROOT admin is eligible to "
                                             "pass this parameter"),
    Param("projectid", STRING, description="list objects by project"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
])
def list_firewall_rules(ctx, p):
    """Lists all firewall rules for an IP address."""
    return rules.list_rules(ctx, p, rules.FIREWALL, "FirewallRule", views.firewall_rules, rules.INGRESS)


# ---- egress ---------------------------------------------------------------------------------------

def egress_network(ctx, network: Network) -> Network:
    if network.guest_type != ISOLATED or network.vpc_id is not None:
        raise InvalidParameter("Egress firewall rules are supported only for isolated networks outside "
                               f"VPCs; network {network.name} is {network.guest_type}")
    if rules.provider(ctx, network, "Firewall") not in rules.ROUTER_PROVIDERS:
        raise InvalidParameter(f"Firewall service is not provided by the virtual router in network "
                               f"{network.name}: egress firewall rules are supported only on virtual routers")
    return network


def egress_sources(network: Network, values) -> list[str]:
    """Source CIDRs of an egress rule: inside the guest CIDR (defaulting to all of it)."""
    cidrs = rules.check_cidrs(values) or ([network.cidr] if network.cidr else [])
    guest = ipaddress.ip_network(network.cidr, strict=False) if network.cidr else None
    for cidr in cidrs:
        if guest is not None and not ipaddress.ip_network(cidr).subnet_of(guest):
            raise InvalidParameter(f"Source cidr {cidr} is not within the network cidr {network.cidr}")
    return cidrs


def make_egress(ctx, p) -> FirewallRule:
    network = egress_network(ctx, p.networkid)
    sources = egress_sources(network, p.cidrlist)
    destinations = rules.check_cidrs(p.destcidrlist, "destination cidr")
    rule = rules.new_rule(ctx, purpose=rules.FIREWALL, traffic_type=rules.EGRESS, **rule_fields(ctx, p),
                          source_cidrs=rules.joined(sources), destination_cidrs=rules.joined(destinations),
                          network_id=network.id, account_id=network.account_id, domain_id=network.domain_id)
    ctx.event("FIREWALL.EGRESS.OPEN",
              f"Egress firewall rule {rule.protocol} created in network {network.name}",
              resource_type="FirewallRule", resource_id=rule.uuid, account_id=rule.account_id,
              domain_id=rule.domain_id)
    return rule


@command("createEgressFirewallRule", isasync=True, response="firewallrule", create=make_egress,
         instance_type="FirewallRule", params=[
             Param("networkid", UUID, entity=Network, required=True, description="the network id of the port "
                                                                                 "forwarding rule"),
             *RULE_PARAMS,
             Param("cidrlist", LIST,
                   description="the cidr list to forward traffic from. Multiple entries must be separated "
                               "by a single comma character (,)."),
             Param("destcidrlist", LIST, since="4.10", description="the cidr list to forward traffic to. "
                                                                   "Multiple entries must be separated by a "
                                                                   "single comma character (,)."),
         ])
async def create_egress_firewall_rule(ctx, p):
    """Creates a egress firewall rule for a given network"""
    rule = ctx.created
    await rules.apply(ctx, ctx.db.get(Network, rule.network_id), rules.FIREWALL, rules.EGRESS)
    ctx.db.refresh(rule)
    return views.firewall_rules(ctx, [rule])[0]


@command("deleteEgressFirewallRule", isasync=True, instance_type="FirewallRule", params=[
    Param("id", UUID, entity=FirewallRule, required=True, description="the ID of the firewall rule"),
])
async def delete_egress_firewall_rule(ctx, p):
    """Deletes an egress firewall rule"""
    await rules.revoke(ctx, rules.check_revocable(p.id, rules.FIREWALL, rules.EGRESS))
    return {"success": True}


@command("updateEgressFirewallRule", isasync=True, response="firewallrule", instance_type="FirewallRule",
         params=UPDATE_PARAMS)
def update_egress_firewall_rule(ctx, p):
    """Updates egress firewall rule"""
    return update_rule(ctx, p, rules.EGRESS)


@command("listEgressFirewallRules", response="firewallrule", listing="owned", params=[
    Param("id", UUID, entity=FirewallRule, check_access=False,
          description="Lists rule with the specified ID."),
    Param("networkid", UUID, entity=Network, description="the network ID for the egress firewall services"),
    Param("ipaddressid", UUID, entity=PublicIp, description="the ID of IP address of the firewall services"),
    Param("fordisplay", BOOLEAN, description="list resources by display flag; only ROOT admin is eligible to "
                                             "pass this parameter"),
    Param("projectid", STRING, description="list objects by project"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
])
def list_egress_firewall_rules(ctx, p):
    """Lists all egress firewall rules for network ID."""
    return rules.list_rules(ctx, p, rules.FIREWALL, "FirewallRule", views.firewall_rules, rules.EGRESS)
