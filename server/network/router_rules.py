"""A network's rules, as they are in the database, turned into its router's configuration
(router_config.RouterConfig): what every rule command sends, rendered."""

import json

from sqlalchemy import select

from ..infra.models import PublicIp, Vlan
from . import router_config as rc
from .models import (
    FirewallRule,
    LBHealthCheckPolicy,
    LBStickinessPolicy,
    LoadBalancerRule,
    LoadBalancerVmMap,
    Network,
    NetworkOffering,
    PortForwardingRule,
    StaticNat,
)
from .rules import EGRESS, FIREWALL, REVOKE, split


def config_for(ctx, network: Network) -> rc.RouterConfig:
    offering = ctx.db.get(NetworkOffering, network.network_offering_id)
    ips = {ip.id: ip for ip in ctx.db.scalars(select(PublicIp).join(Vlan, Vlan.id == PublicIp.vlan_id).where(
        PublicIp.network_id == network.id, PublicIp.state.in_(("Allocated", "Allocating")),
        Vlan.vlan_type == "VirtualNetwork"))}
    source_nat = next((ip.public_ip_address for ip in ips.values() if ip.is_source_nat), None)
    cfg = rc.RouterConfig(guest_cidr=network.cidr or "",
                          public_ips=[ip.public_ip_address for ip in ips.values()], source_nat_ip=source_nat,
                          egress_default_allow=bool(offering and offering.egress_default_policy))
    live = select(FirewallRule).where(FirewallRule.network_id == network.id, FirewallRule.state != REVOKE,
                                      FirewallRule.removed.is_(None)).order_by(FirewallRule.id)
    for rule in ctx.db.scalars(live.where(FirewallRule.purpose == FIREWALL)):
        target = cfg.egress if rule.traffic_type == EGRESS else cfg.firewall
        address = ips.get(rule.ip_address_id)
        target.append(rc.Rule(rule.protocol, rule.start_port, rule.end_port, split(rule.source_cidrs),
                              split(rule.destination_cidrs), rule.icmp_type, rule.icmp_code,
                              address.public_ip_address if address else None))
    forwards = ctx.db.execute(live.add_columns(PortForwardingRule).join(
        PortForwardingRule, PortForwardingRule.id == FirewallRule.id))
    for rule, detail in forwards:
        if rule.ip_address_id in ips:
            cfg.port_forwarding.append(rc.Forward(
                ips[rule.ip_address_id].public_ip_address, rule.protocol, rule.start_port, rule.end_port,
                detail.dest_ip_address, detail.dest_port_start, detail.dest_port_end,
                split(rule.source_cidrs)))
    for nat in ctx.db.scalars(select(StaticNat).where(StaticNat.network_id == network.id)):
        if nat.ip_address_id in ips:
            cfg.static_nat.append((ips[nat.ip_address_id].public_ip_address, nat.guest_ip))
    cfg.load_balancers = balancers(ctx, live, ips)
    return cfg


def balancers(ctx, live, ips: dict) -> list[rc.Balancer]:
    found = []
    rows = ctx.db.execute(live.add_columns(LoadBalancerRule).join(LoadBalancerRule,
                                                                  LoadBalancerRule.id == FirewallRule.id))
    for rule, lb in rows:
        if rule.ip_address_id not in ips:
            continue
        members = list(ctx.db.scalars(select(LoadBalancerVmMap.instance_ip).where(
            LoadBalancerVmMap.load_balancer_id == rule.id, LoadBalancerVmMap.state != REVOKE)
            .order_by(LoadBalancerVmMap.id)))
        sticky = ctx.db.scalars(select(LBStickinessPolicy).where(
            LBStickinessPolicy.load_balancer_id == rule.id, LBStickinessPolicy.state != REVOKE)).first()
        check = ctx.db.scalars(select(LBHealthCheckPolicy).where(
            LBHealthCheckPolicy.load_balancer_id == rule.id, LBHealthCheckPolicy.state != REVOKE)).first()
        found.append(rc.Balancer(
            lb.name, ips[rule.ip_address_id].public_ip_address, rule.start_port, lb.default_port_start,
            lb.algorithm, lb.lb_protocol or rule.protocol, members, split(rule.source_cidrs),
            (sticky.method_name, json.loads(sticky.params or "{}")) if sticky else None,
            {"pingpath": check.ping_path, "interval": check.interval, "responsetime": check.response_time,
             "healthy": check.healthy_threshold, "unhealthy": check.unhealthy_threshold} if check else None))
    return found
