"""Network rules on public addresses and guest networks: validation, conflict detection, and applying
them through the network's virtual router.

A rule is written in state Add (or marked Revoke) and committed; then the whole rule set of its kind
for the network is sent to every running router of the network (SetFirewallRulesCommand,
SetPortForwardingRulesCommand, SetStaticNatRulesCommand, LoadBalancerConfigCommand), each carrying the
router's full configuration (router_config.py). Only when every router accepted it do Add rules become
Active and Revoke rules disappear: a failure leaves them as they were and fails the operation, so a
rule is never shown Active without having been applied.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import delete, select, update

from ..compute.models import ROUTER, USER_VM, VMInstance
from ..core.errors import ApiError, InvalidParameter, NetworkRuleConflict
from ..hypervisors.base import driver_for
from ..infra.models import Host, PublicIp, Vlan
from . import router_config as rc
from .guest_creation import services_of
from .models import (
    FirewallRule,
    LBHealthCheckPolicy,
    LBStickinessPolicy,
    LoadBalancerRule,
    LoadBalancerVmMap,
    Network,
    Nic,
    NicSecondaryIp,
    PortForwardingRule,
    SecurityGroupVmMap,
    StaticNat,
)

ADD, ACTIVE, REVOKE = "Add", "Active", "Revoke"
FIREWALL, PORT_FORWARDING, STATIC_NAT, LOAD_BALANCING, VPN = (
    "Firewall", "PortForwarding", "StaticNat", "LoadBalancing", "Vpn")
INGRESS, EGRESS = "Ingress", "Egress"
ANY = "0.0.0.0/0"
ROUTER_PROVIDERS = ("VirtualRouter", "VpcVirtualRouter")
# The service behind each purpose, and the router command that applies it.
SERVICE = {FIREWALL: "Firewall", PORT_FORWARDING: "PortForwarding", STATIC_NAT: "StaticNat",
           LOAD_BALANCING: "Lb"}
COMMAND = {FIREWALL: "SetFirewallRulesCommand", PORT_FORWARDING: "SetPortForwardingRulesCommand",
           STATIC_NAT: "SetStaticNatRulesCommand", LOAD_BALANCING: "LoadBalancerConfigCommand"}


class RuleApplyFailed(ApiError):
    """A router refused the rules (upstream: "Failed to apply ... rules"), 530 as upstream answers."""

    errorcode = 530
    cserrorcode = 4250


# ---- parameter checks ---------------------------------------------------------------------------

def check_port(value: int | None, label: str) -> int | None:
    if value is not None and not 1 <= value <= 65535:
        raise InvalidParameter(f"{label} is an invalid value: {value}")
    return value


def check_range(start: int | None, end: int | None, label: str = "port") -> tuple[int | None, int | None]:
    """(start, end) with end defaulting to start; upstream's texts for bad values."""
    check_port(start, f"{label.capitalize()} start")
    check_port(end, f"{label.capitalize()} end")
    if start is None and end is not None:
        raise InvalidParameter(f"Start {label} is required when the end {label} is given")
    end = start if end is None else end
    if start is not None and start > end:
        raise InvalidParameter("Start port can't be bigger than end port")
    return start, end


def check_protocol(value: str, allowed: tuple[str, ...]) -> str:
    protocol = (value or "").strip().lower()
    if protocol not in allowed:
        raise InvalidParameter(f"Invalid protocol {value}: supported protocols are {', '.join(allowed)}")
    return protocol


def check_cidrs(values, what: str = "source cidr") -> list[str]:
    cidrs = []
    for value in values or ():
        try:
            cidrs.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise InvalidParameter(f"Invalid {what}: {value}") from None
    return cidrs


def check_icmp(protocol: str, p) -> tuple[int | None, int | None]:
    """(type, code) of an ICMP rule; ports and ICMP fields are exclusive, as upstream checks."""
    if protocol != "icmp":
        if p.icmptype is not None or p.icmpcode is not None:
            raise InvalidParameter("Can specify icmpCode and icmpType for ICMP protocol only")
        return None, None
    if p.startport is not None or p.endport is not None:
        raise InvalidParameter("Can't specify start/end port when protocol is ICMP")
    icmp_type = -1 if p.icmptype is None else p.icmptype
    icmp_code = -1 if p.icmpcode is None else p.icmpcode
    if not -1 <= icmp_type <= 255 or not -1 <= icmp_code <= 255:
        raise InvalidParameter("Invalid ICMP type/code specified, icmpType = -1 or 0..255, icmpCode = -1 or "
                               "0..255")
    return icmp_type, icmp_code


def joined(cidrs: list[str]) -> str | None:
    return ",".join(cidrs) if cidrs else None


def split(text: str | None) -> list[str]:
    return [part for part in (text or "").split(",") if part]


# ---- the address and network a rule is for ------------------------------------------------------

def provider(ctx, network: Network, service: str) -> str | None:
    providers = services_of(ctx, network.network_offering_id).get(service)
    return providers[0] if providers else None


def rule_network(ctx, ip: PublicIp, service: str, what: str) -> Network:
    """The network of an address that may carry rules of a service (upstream checkIpForService)."""
    if ip.state not in ("Allocated", "Allocating") or ip.is_system:
        raise InvalidParameter(f"Unable to create {what}: IP address {ip.public_ip_address} is not allocated "
                               "to an account")
    if ip.network_id is None:
        raise InvalidParameter(f"Unable to create {what}: IP address {ip.public_ip_address} is not "
                               "associated with any network")
    network = ctx.db.get(Network, ip.network_id)
    if network is None or network.removed is not None:
        raise InvalidParameter(f"Unable to create {what}: the network of IP address {ip.public_ip_address} "
                               "is gone")
    if provider(ctx, network, service) is None:
        raise InvalidParameter(f"Service {service} is not supported in network {network.name}; can't create "
                               f"{what}")
    return network


def guest_vm(ctx, vm: VMInstance, what: str) -> VMInstance:
    if vm.type != USER_VM or vm.removed is not None or vm.state in ("Destroyed", "Expunging", "Error"):
        raise InvalidParameter(f"Unable to create {what}: invalid virtual machine {vm.uuid} (it must be a "
                               "user VM that is not destroyed)")
    return vm


def vm_nic(ctx, vm: VMInstance, network: Network, what: str) -> Nic:
    nic = ctx.db.scalars(select(Nic).where(Nic.instance_id == vm.id, Nic.network_id == network.id)).first()
    if nic is None:
        raise InvalidParameter(f"Unable to create {what}: virtual machine {vm.name} has no NIC in network "
                               f"{network.name}")
    return nic


def guest_ip(ctx, nic: Nic, wanted: str | None) -> str:
    """The NIC's address, or the secondary address of the NIC asked for (vmguestip)."""
    if not wanted or wanted == nic.ip4_address:
        return nic.ip4_address
    secondary = ctx.db.scalar(select(NicSecondaryIp.id).where(NicSecondaryIp.nic_id == nic.id,
                                                              NicSecondaryIp.ip4_address == wanted))
    if secondary is None:
        raise InvalidParameter(f"Invalid vmguestip {wanted}: it is neither the address nor a secondary "
                               "address of the VM's NIC in the network")
    return wanted


# ---- conflicts (upstream FirewallManagerImpl.detectRulesConflict, in its spirit) ----------------------

def same_cidrs(first: list[str], second: list[str]) -> bool:
    if not first and not second:
        return True
    return bool(set(first) & set(second))


def ranges_overlap(a: FirewallRule, b: FirewallRule) -> bool:
    return a.start_port <= b.end_port and b.start_port <= a.end_port


def peers_of(ctx, rule: FirewallRule) -> list[FirewallRule]:
    query = select(FirewallRule).where(FirewallRule.id != rule.id, FirewallRule.state != REVOKE,
                                       FirewallRule.removed.is_(None))
    if rule.ip_address_id is not None:
        query = query.where(FirewallRule.ip_address_id == rule.ip_address_id)
    else:
        query = query.where(FirewallRule.network_id == rule.network_id, FirewallRule.purpose == FIREWALL,
                            FirewallRule.traffic_type == rule.traffic_type)
    return list(ctx.db.scalars(query.order_by(FirewallRule.id)))


def detect_conflicts(ctx, new: FirewallRule) -> None:
    ip = ctx.db.get(PublicIp, new.ip_address_id) if new.ip_address_id else None
    address = ip.public_ip_address if ip else "-"
    for rule in peers_of(ctx, new):
        check_pair(new, rule, address)


def check_pair(new: FirewallRule, rule: FirewallRule, address: str) -> None:
    firewall_involved = FIREWALL in (rule.purpose, new.purpose) and (
        rule.purpose != new.purpose or rule.protocol != new.protocol)
    both = rule.purpose if rule.purpose == new.purpose else None
    duplicated = False
    if both == FIREWALL:
        duplicated = same_cidrs(split(rule.source_cidrs), split(new.source_cidrs)) and same_cidrs(
            split(rule.destination_cidrs), split(new.destination_cidrs))
    elif both == PORT_FORWARDING:
        duplicated = same_cidrs(split(rule.source_cidrs), split(new.source_cidrs))
    if not firewall_involved:
        if rule.purpose == STATIC_NAT and new.purpose != STATIC_NAT:
            raise NetworkRuleConflict("There is 1 to 1 Nat rule specified for the ip address "
                                      f"{address}")
        if rule.purpose != STATIC_NAT and new.purpose == STATIC_NAT:
            raise NetworkRuleConflict("There is already firewall rule specified for the ip address "
                                      f"{address}")
    if rule.network_id != new.network_id:
        raise NetworkRuleConflict(f"New rule is for a different network than what's specified in rule "
                                  f"{rule.uuid}")
    if new.protocol == "icmp" and rule.protocol == "icmp" and duplicated and \
            (new.icmp_type, new.icmp_code) == (rule.icmp_type, rule.icmp_code):
        raise InvalidParameter(f"New rule conflicts with existing rule: {rule.uuid}")
    no_ports = None in (new.start_port, rule.start_port)
    if no_ports:
        if new.start_port is None and rule.start_port is None and duplicated \
                and rule.protocol == new.protocol and new.protocol != "icmp":
            raise NetworkRuleConflict(f"There is already a firewall rule specified with protocol = "
                                      f"{new.protocol} and no ports")
        return
    if firewall_involved or (both in (FIREWALL, PORT_FORWARDING) and not duplicated):
        return
    if not ranges_overlap(new, rule):
        return
    # The same ports may be forwarded (or statically NATed) once per protocol.
    if both in (PORT_FORWARDING, STATIC_NAT) and new.protocol != rule.protocol:
        return
    raise NetworkRuleConflict(f"The range specified, {new.start_port}-{new.end_port}, conflicts with rule "
                              f"{rule.uuid} which has {rule.start_port}-{rule.end_port}")


def new_rule(ctx, **fields) -> FirewallRule:
    """Write a rule in state Add, then check it against the rules already there (as upstream does)."""
    rule = FirewallRule(state=ADD, **fields)
    ctx.db.add(rule)
    ctx.db.flush()
    if rule.type == "User":
        detect_conflicts(ctx, rule)
    return rule


def open_firewall(ctx, rule: FirewallRule) -> FirewallRule:
    """The firewall rule a port forwarding or load balancing rule opens for itself (openfirewall=true)."""
    protocol = rule.protocol if rule.protocol in ("tcp", "udp") else "tcp"
    return new_rule(ctx, purpose=FIREWALL, protocol=protocol, start_port=rule.start_port,
                    end_port=rule.end_port, source_cidrs=ANY,
                    traffic_type=INGRESS, ip_address_id=rule.ip_address_id, network_id=rule.network_id,
                    account_id=rule.account_id, domain_id=rule.domain_id, related_id=rule.id)


def related_rules(ctx, rule: FirewallRule) -> list[FirewallRule]:
    return list(ctx.db.scalars(select(FirewallRule).where(FirewallRule.related_id == rule.id,
                                                          FirewallRule.removed.is_(None))))


def check_revocable(rule: FirewallRule, purpose: str, traffic: str | None = None) -> FirewallRule:
    if rule.purpose != purpose or (traffic and rule.traffic_type != traffic):
        raise InvalidParameter(f"Unable to find {purpose.lower()} rule by id={rule.uuid}")
    return rule


# ---- applying through the router ------------------------------------------------------------------

def running_routers(ctx, network: Network) -> list[tuple[VMInstance, Host]]:
    routers = ctx.db.execute(select(VMInstance, Host).join(Nic, Nic.instance_id == VMInstance.id)
                             .join(Host, Host.id == VMInstance.host_id)
                             .where(Nic.network_id == network.id, VMInstance.type == ROUTER,
                                    VMInstance.state == "Running", VMInstance.removed.is_(None))
                             .order_by(VMInstance.id))
    return [(router, host) for router, host in routers]


async def send(ctx, network: Network, service: str, command: str, what: str, **payload) -> None:
    """Send one command to every running router serving the service in the network; the caller's work is
    committed first. Providers other than the virtual router take no command here."""
    ctx.commit()
    routers = running_routers(ctx, network)
    if not routers or provider(ctx, network, service) not in ROUTER_PROVIDERS:
        return
    from .router_rules import config_for  # at call time: router_rules imports this module's names

    config = rc.render(config_for(ctx, network))
    for router, host in routers:
        try:
            await driver_for(host.hypervisor_type).execute(ctx, host, command, router=router.name,
                                                           network=network.uuid, config=config, **payload)
        except ApiError as error:
            ctx.rollback()
            raise RuleApplyFailed(f"Failed to apply {what} on virtual router {router.name} of network "
                                  f"{network.name}: {error.text}") from None


async def apply(ctx, network: Network, purpose: str, traffic: str = INGRESS) -> None:
    """Apply the network's rules of a purpose; settle Add → Active and Revoke → gone on success."""
    query = select(FirewallRule).where(FirewallRule.network_id == network.id, FirewallRule.purpose == purpose,
                                       FirewallRule.removed.is_(None))
    if purpose == FIREWALL:
        query = query.where(FirewallRule.traffic_type == traffic)
    rules = list(ctx.db.scalars(query.order_by(FirewallRule.id)))
    label = f"{'egress ' if traffic == EGRESS else ''}{purpose_label(purpose)} rules"
    payload = [rule_payload(rule) for rule in rules]
    await send(ctx, network, SERVICE[purpose], COMMAND[purpose], label, rules=payload)
    settle(ctx, [rule.id for rule in rules])
    if purpose == LOAD_BALANCING:
        settle_members(ctx, [rule.id for rule in rules])


def purpose_label(purpose: str) -> str:
    return {FIREWALL: "firewall", PORT_FORWARDING: "port forwarding", STATIC_NAT: "static nat",
            LOAD_BALANCING: "load balancing"}.get(purpose, purpose)


def rule_payload(rule: FirewallRule) -> dict:
    return {"id": rule.uuid, "purpose": rule.purpose, "protocol": rule.protocol, "startport": rule.start_port,
            "endport": rule.end_port, "sourcecidrs": split(rule.source_cidrs),
            "revoked": rule.state == REVOKE, "traffictype": rule.traffic_type}


def settle(ctx, rule_ids: list[int]) -> None:
    if not rule_ids:
        return
    ctx.db.execute(update(FirewallRule).where(FirewallRule.id.in_(rule_ids), FirewallRule.state == ADD)
                   .values(state=ACTIVE).execution_options(synchronize_session=False))
    gone = list(ctx.db.scalars(select(FirewallRule.id).where(FirewallRule.id.in_(rule_ids),
                                                             FirewallRule.state == REVOKE)))
    remove_rules(ctx, gone)
    ctx.db.expire_all()


def settle_members(ctx, rule_ids: list[int]) -> None:
    if not rule_ids:
        return
    for model in (LoadBalancerVmMap, LBStickinessPolicy, LBHealthCheckPolicy):
        owner = model.load_balancer_id.in_(rule_ids)
        ctx.db.execute(delete(model).where(owner, model.state == REVOKE))
        ctx.db.execute(update(model).where(owner, model.state == ADD).values(state=ACTIVE)
                       .execution_options(synchronize_session=False))
    ctx.db.expire_all()


def remove_rules(ctx, rule_ids: list[int]) -> None:
    """Delete rules and everything hanging on them (details, members, policies)."""
    if not rule_ids:
        return
    for model in (PortForwardingRule, LoadBalancerRule):
        ctx.db.execute(delete(model).where(model.id.in_(rule_ids)))
    for model in (LoadBalancerVmMap, LBStickinessPolicy, LBHealthCheckPolicy):
        ctx.db.execute(delete(model).where(model.load_balancer_id.in_(rule_ids)))
    ctx.db.execute(delete(FirewallRule).where(FirewallRule.id.in_(rule_ids)))


def mark_revoked(ctx, rules: list[FirewallRule]) -> None:
    """Mark rules Revoke, and the firewall rules opened for them (which join the list)."""
    for rule in list(rules):
        rules.extend(r for r in related_rules(ctx, rule) if r not in rules)
    for rule in rules:
        rule.state = REVOKE


REVOKE_EVENT = {PORT_FORWARDING: "NET.RULEDELETE", STATIC_NAT: "NET.RULEDELETE", LOAD_BALANCING: "LB.DELETE"}


async def revoke(ctx, rule: FirewallRule) -> None:
    """Revoke one rule (and its opened firewall rule) and apply what changed."""
    network = ctx.db.get(Network, rule.network_id)
    kind = REVOKE_EVENT.get(rule.purpose) or (
        "FIREWALL.EGRESS.CLOSE" if rule.traffic_type == EGRESS else "FIREWALL.CLOSE")
    ctx.event(kind, f"{purpose_label(rule.purpose).capitalize()} rule {rule.uuid} deleted",
              resource_type="FirewallRule", resource_id=rule.uuid, account_id=rule.account_id,
              domain_id=rule.domain_id)
    related = related_rules(ctx, rule)
    mark_revoked(ctx, [rule])
    await apply(ctx, network, rule.purpose, rule.traffic_type)
    if related:
        await apply(ctx, network, FIREWALL, INGRESS)


# ---- listing --------------------------------------------------------------------------------------

def list_rules(ctx, p, purpose: str, tag_type: str, view, traffic: str | None = None, narrow=None):
    """The owned listing every rule list shares: id, ipaddressid, networkid, fordisplay, tags."""
    from ..core.listing import owner_filter, paged
    from ..platform.tags import tag_filter

    query = owner_filter(ctx, p, select(FirewallRule).where(FirewallRule.purpose == purpose,
                                                            FirewallRule.removed.is_(None)), FirewallRule)
    if traffic:
        query = query.where(FirewallRule.traffic_type == traffic)
    for value, column in ((p.id, FirewallRule.id), (p.ipaddressid, FirewallRule.ip_address_id),
                          (p.networkid, FirewallRule.network_id)):
        if value is not None:
            query = query.where(column == value.id)
    if p.fordisplay is not None:
        query = query.where(FirewallRule.for_display.is_(p.fordisplay))
    if p.tags:
        query = tag_filter(ctx, query, FirewallRule, tag_type, p.tags)
    if narrow is not None:
        query = narrow(query)
    result = paged(ctx, p, query, lambda rule: rule, order_by=FirewallRule.id)
    result.items = view(ctx, result.items)
    return result


# ---- a VM going away ------------------------------------------------------------------------------

def forget_vm(ctx, vm) -> None:
    """An expunged VM's rules go with it: port forwarding, load balancer membership, static NAT (and the
    IP forwarding rules of its addresses), security group membership. Expunging can't await routers:
    they get the change with the next rule applied or when they start."""
    forwards = list(ctx.db.scalars(select(PortForwardingRule.id).where(
        PortForwardingRule.instance_id == vm.id)))
    nats = list(ctx.db.scalars(select(StaticNat).where(StaticNat.instance_id == vm.id)))
    forwarded = list(ctx.db.scalars(select(FirewallRule.id).where(
        FirewallRule.purpose == STATIC_NAT, FirewallRule.ip_address_id.in_([n.ip_address_id for n in nats]))))
    related = list(ctx.db.scalars(select(FirewallRule.id).where(
        FirewallRule.related_id.in_(forwards + forwarded))))
    remove_rules(ctx, forwards + forwarded + related)
    ctx.db.execute(delete(LoadBalancerVmMap).where(LoadBalancerVmMap.instance_id == vm.id))
    for nat in nats:
        ip = ctx.db.get(PublicIp, nat.ip_address_id)
        ip.is_static_nat, ip.vm_id = False, None
        ctx.db.delete(nat)
    ctx.db.execute(delete(SecurityGroupVmMap).where(SecurityGroupVmMap.instance_id == vm.id))


def forget_network(ctx, network: Network) -> None:
    """A deleted network's rules and static NATs go; the addresses acquired for it give back their limit
    slot (the network then frees them all)."""
    ids = list(ctx.db.scalars(select(FirewallRule.id).where(FirewallRule.network_id == network.id)))
    remove_rules(ctx, ids)
    ctx.db.execute(delete(StaticNat).where(StaticNat.network_id == network.id))
    from ..iam import limits

    acquired = ctx.db.scalars(select(PublicIp).join(Vlan, Vlan.id == PublicIp.vlan_id).where(
        PublicIp.network_id == network.id, PublicIp.is_source_nat.is_(False),
        PublicIp.account_id.is_not(None), PublicIp.state.in_(("Allocated", "Allocating", "Releasing")),
        Vlan.vlan_type == "VirtualNetwork"))
    for ip in acquired:
        limits.release(ctx, ip.account_id, "public_ip")


async def reapply(ctx, router: VMInstance) -> None:
    """A router that (re)started gets its network's rules. One that refuses them leaves them Add (not
    applied) and says so in an event: starting the router is not undone for it."""
    from .virtual_router import guest_network_of

    network = guest_network_of(ctx, router)
    if network is None:
        return
    purposes = set(ctx.db.scalars(select(FirewallRule.purpose).where(
        FirewallRule.network_id == network.id, FirewallRule.removed.is_(None)).distinct()))
    if ctx.db.scalar(select(StaticNat.ip_address_id).where(StaticNat.network_id == network.id).limit(1)):
        purposes.add(STATIC_NAT)
    try:
        for purpose in (FIREWALL, PORT_FORWARDING, STATIC_NAT, LOAD_BALANCING):
            if purpose in purposes:
                await apply(ctx, network, purpose, INGRESS)
                if purpose == FIREWALL:
                    await apply(ctx, network, purpose, EGRESS)
    except RuleApplyFailed as error:
        ctx.db.execute(update(FirewallRule).where(FirewallRule.network_id == network.id,
                                                  FirewallRule.state == ACTIVE).values(state=ADD)
                       .execution_options(synchronize_session=False))
        ctx.event("ROUTER.RULES", error.text, level="ERROR", resource_type="DomainRouter",
                  resource_id=router.uuid, account_id=router.account_id, domain_id=router.domain_id)
        ctx.commit()
