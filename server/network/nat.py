"""Static NAT (enableStaticNat, disableStaticNat), IP forwarding rules on static NAT addresses, and port
forwarding rules. The rules themselves (conflicts, applying through the router) are rules.py's."""

from sqlalchemy import delete, select

from ..compute.models import VMInstance
from ..core.errors import InvalidParameter, NetworkRuleConflict, PermissionDenied
from ..core.listing import owner_filter, paged
from ..core.params import BOOLEAN, INTEGER, LIST, MAP, STRING, UUID, Param
from ..core.registry import command
from ..infra.models import PublicIp
from ..platform.tags import register_taggable
from . import rule_views as views
from . import rules
from .models import FirewallRule, Network, PortForwardingRule, StaticNat

register_taggable("PortForwardingRule", FirewallRule, FirewallRule.purpose == rules.PORT_FORWARDING)
PF_PROTOCOLS = ("tcp", "udp")


def same_owner(vm: VMInstance, ip: PublicIp) -> None:
    if vm.account_id != ip.account_id:
        raise PermissionDenied(f"Virtual machine {vm.uuid} and IP address {ip.public_ip_address} belong to "
                               "different accounts")


def rules_on(ctx, ip: PublicIp, *purposes: str) -> list[FirewallRule]:
    return list(ctx.db.scalars(select(FirewallRule).where(
        FirewallRule.ip_address_id == ip.id, FirewallRule.purpose.in_(purposes),
        FirewallRule.state != rules.REVOKE, FirewallRule.removed.is_(None))))


def network_of(ctx, ip: PublicIp, given: Network | None, service: str, what: str) -> Network:
    if given is not None and ip.network_id not in (None, given.id):
        raise InvalidParameter(f"IP address {ip.public_ip_address} is associated with another network than "
                               f"{given.name}")
    if given is not None and ip.network_id is None and ip.account_id == given.account_id:
        ip.network_id = given.id
    return rules.rule_network(ctx, ip, service, what)


def ip_event(ctx, ip: PublicIp, kind: str, text: str) -> None:
    ctx.event(kind, text, resource_type="IpAddress", resource_id=ip.uuid, account_id=ip.account_id,
              domain_id=ip.domain_id)


def rule_event(ctx, kind: str, rule: FirewallRule, text: str) -> None:
    ctx.event(kind, text, resource_type="FirewallRule", resource_id=rule.uuid, account_id=rule.account_id,
              domain_id=rule.domain_id)


# ---- static NAT -----------------------------------------------------------------------------------

def check_static_nat(ctx, ip: PublicIp, vm: VMInstance, network: Network, wanted: str | None) -> str:
    """The guest address static NAT maps to, after upstream's checks."""
    what = "static nat"
    if ip.is_source_nat:
        raise InvalidParameter(f"Can't enable static nat, ip address {ip.public_ip_address} is a sourceNat "
                               "ip address")
    if ip.is_static_nat:
        raise InvalidParameter(f"Static nat is already enabled for ip address {ip.public_ip_address}; "
                               "disable it first")
    busy = rules_on(ctx, ip, rules.PORT_FORWARDING, rules.LOAD_BALANCING)
    if busy:
        raise NetworkRuleConflict(f"Failed to enable static nat for the ip address {ip.public_ip_address} as "
                                  f"it already has {busy[0].purpose} rules assigned")
    rules.guest_vm(ctx, vm, what)
    same_owner(vm, ip)
    address = rules.guest_ip(ctx, rules.vm_nic(ctx, vm, network, what), wanted)
    taken = ctx.db.scalar(select(StaticNat.ip_address_id).where(StaticNat.network_id == network.id,
                                                                StaticNat.guest_ip == address))
    if taken is not None:
        raise NetworkRuleConflict(f"Failed to enable static nat for the ip address {ip.public_ip_address}: "
                                  f"VM {vm.name} ({address}) already has a static nat ip address")
    return address


@command("enableStaticNat", response=None, params=[
    Param("ipaddressid", UUID, entity=PublicIp, required=True,
          description="the public IP address ID for which static NAT feature is being enabled"),
    Param("virtualmachineid", UUID, entity=VMInstance, required=True,
          description="the ID of the virtual machine for enabling static NAT feature"),
    Param("networkid", UUID, entity=Network,
          description="The network of the VM the static NAT will be enabled for. Required when public IP "
                      "address is not associated with any guest network yet (VPC case)"),
    Param("vmguestip", STRING, description="VM guest NIC secondary IP address for the port forwarding rule"),
], fields={"success": "true if operation is executed successfully", "displaytext": "any text associated with "
                                                                                  "the success or failure"})
async def enable_static_nat(ctx, p):
    """Enables static NAT for given IP address"""
    ip, vm = p.ipaddressid, p.virtualmachineid
    network = network_of(ctx, ip, p.networkid, "StaticNat", "static nat")
    address = check_static_nat(ctx, ip, vm, network, p.vmguestip)
    ctx.db.add(StaticNat(ip_address_id=ip.id, instance_id=vm.id, network_id=network.id, guest_ip=address))
    ip.is_static_nat, ip.vm_id = True, vm.id
    try:
        await rules.apply(ctx, network, rules.STATIC_NAT)
    except Exception:
        undo_static_nat(ctx, ip)
        ctx.commit()
        raise
    ip_event(ctx, ip, "STATICNAT.ENABLE", f"Static NAT enabled for IP {ip.public_ip_address} to VM {vm.name}")
    return {"success": True}


def undo_static_nat(ctx, ip: PublicIp) -> None:
    ctx.db.refresh(ip)
    ctx.db.execute(delete(StaticNat).where(StaticNat.ip_address_id == ip.id))
    ip.is_static_nat, ip.vm_id = False, None


@command("disableStaticNat", isasync=True, instance_type="IpAddress", params=[
    Param("ipaddressid", UUID, entity=PublicIp, required=True,
          description="the public IP address ID for which static NAT feature is being disabled"),
])
async def disable_static_nat(ctx, p):
    """Disables static rule for given IP address"""
    ip = p.ipaddressid
    if not ip.is_static_nat:
        raise InvalidParameter(f"Specified IP address {ip.public_ip_address} is not static nat enabled")
    nat = ctx.db.get(StaticNat, ip.id)
    network = ctx.db.get(Network, ip.network_id)
    forwarded = rules_on(ctx, ip, rules.STATIC_NAT)
    rules.mark_revoked(ctx, forwarded)
    saved = (nat.instance_id, nat.network_id, nat.guest_ip) if nat else None
    undo_static_nat(ctx, ip)
    try:
        await rules.apply(ctx, network, rules.STATIC_NAT)
    except Exception:
        ctx.db.refresh(ip)
        if saved:
            ctx.db.add(StaticNat(ip_address_id=ip.id, instance_id=saved[0], network_id=saved[1],
                                 guest_ip=saved[2]))
            ip.is_static_nat, ip.vm_id = True, saved[0]
        ctx.commit()
        raise
    # mark_revoked added the firewall rules these opened: close them too.
    if any(rule.purpose == rules.FIREWALL for rule in forwarded):
        await rules.apply(ctx, network, rules.FIREWALL)
    ip_event(ctx, ip, "STATICNAT.DISABLE", f"Static NAT disabled for IP {ip.public_ip_address}")
    return {"success": True}


# ---- IP forwarding rules (the ports a static NAT address forwards) ----------------------------------

def make_ip_forward(ctx, p) -> FirewallRule:
    ip = p.ipaddressid
    network = rules.rule_network(ctx, ip, "StaticNat", "ip forwarding rule")
    if not ip.is_static_nat:
        raise InvalidParameter(f"Can't create ip forwarding rules as ip address {ip.public_ip_address} is "
                               "not static nat enabled")
    protocol = rules.check_protocol(p.protocol, PF_PROTOCOLS)
    start, end = rules.check_range(p.startport, p.endport)
    cidrs = rules.check_cidrs(p.cidrlist)
    rule = rules.new_rule(ctx, purpose=rules.STATIC_NAT, protocol=protocol, start_port=start, end_port=end,
                          source_cidrs=rules.joined(cidrs), ip_address_id=ip.id, network_id=network.id,
                          account_id=ip.account_id, domain_id=ip.domain_id)
    if p.openfirewall is not False:
        rules.open_firewall(ctx, rule)
    rule_event(ctx, "NET.RULEADD", rule, f"IP forwarding rule {start}-{end}/{protocol} created on "
                                         f"{ip.public_ip_address}")
    return rule


async def apply_with_firewall(ctx, rule: FirewallRule) -> None:
    """Apply a new rule and the firewall rule it opened (firewall first, so the ports open with it)."""
    network = ctx.db.get(Network, rule.network_id)
    if rules.related_rules(ctx, rule):
        await rules.apply(ctx, network, rules.FIREWALL)
    await rules.apply(ctx, network, rule.purpose)
    ctx.db.refresh(rule)


@command("createIpForwardingRule", isasync=True, response="ipforwardingrule", create=make_ip_forward,
         instance_type="FirewallRule", params=[
             Param("ipaddressid", UUID, entity=PublicIp, required=True,
                   description="the public IP address ID of the forwarding rule, already associated via "
                               "associateIp"),
             Param("protocol", STRING, required=True,
                   description="the protocol for the rule. Valid values are TCP or UDP."),
             Param("startport", INTEGER, required=True, description="the start port for the rule"),
             Param("endport", INTEGER, description="the end port for the rule"),
             Param("openfirewall", BOOLEAN,
                   description="if true, firewall rule for source/end public port is automatically created; "
                               "if false - firewall rule has to be created explicitly. Has value true by "
                               "default"),
             Param("cidrlist", LIST,
                   description="the CIDR list to forward traffic from. Multiple entries must be separated "
                               "by a single comma character (,)."),
         ])
async def create_ip_forwarding_rule(ctx, p):
    """Creates an IP forwarding rule"""
    await apply_with_firewall(ctx, ctx.created)
    return views.ip_forwarding_rules(ctx, [ctx.created])[0]


@command("deleteIpForwardingRule", isasync=True, instance_type="FirewallRule", params=[
    Param("id", UUID, entity=FirewallRule, required=True, description="the ID of the forwarding rule"),
])
async def delete_ip_forwarding_rule(ctx, p):
    """Deletes an IP forwarding rule"""
    await rules.revoke(ctx, rules.check_revocable(p.id, rules.STATIC_NAT))
    return {"success": True}


@command("listIpForwardingRules", response="ipforwardingrule", listing="owned", params=[
    Param("id", UUID, entity=FirewallRule, check_access=False,
          description="Lists rule with the specified ID."),
    Param("ipaddressid", UUID, entity=PublicIp, description="list the rule belonging to this public IP "
                                                            "address"),
    Param("virtualmachineid", UUID, entity=VMInstance, description="Lists all rules applied to the specified "
                                                                   "VM."),
    Param("projectid", STRING, description="list objects by project"),
])
def list_ip_forwarding_rules(ctx, p):
    """List the IP forwarding rules"""
    query = owner_filter(ctx, p, select(FirewallRule).where(FirewallRule.purpose == rules.STATIC_NAT,
                                                            FirewallRule.removed.is_(None)), FirewallRule)
    if p.id is not None:
        query = query.where(FirewallRule.id == p.id.id)
    if p.ipaddressid is not None:
        query = query.where(FirewallRule.ip_address_id == p.ipaddressid.id)
    if p.virtualmachineid is not None:
        query = query.where(FirewallRule.ip_address_id.in_(select(StaticNat.ip_address_id).where(
            StaticNat.instance_id == p.virtualmachineid.id)))
    result = paged(ctx, p, query, lambda rule: rule, order_by=FirewallRule.id)
    result.items = views.ip_forwarding_rules(ctx, result.items)
    return result


# ---- port forwarding ------------------------------------------------------------------------------

def forward_target(ctx, p, rule_network: Network, ip: PublicIp) -> tuple[VMInstance, str]:
    what = "port forwarding rule"
    vm = rules.guest_vm(ctx, p.virtualmachineid, what)
    same_owner(vm, ip)
    return vm, rules.guest_ip(ctx, rules.vm_nic(ctx, vm, rule_network, what), p.vmguestip)


def forward_ports(p) -> tuple[int, int, int, int]:
    public = rules.check_range(p.publicport, p.publicendport, "public port")
    private = rules.check_range(p.privateport, p.privateendport, "private port")
    if public[1] - public[0] != private[1] - private[0]:
        raise InvalidParameter("Unable to create port forwarding rule as the private and public port ranges "
                               "are not of equal length")
    return (*public, *private)


def make_port_forward(ctx, p) -> FirewallRule:
    ip = p.ipaddressid
    network = network_of(ctx, ip, p.networkid, "PortForwarding", "port forwarding rule")
    if ip.is_static_nat:
        raise NetworkRuleConflict(f"Can't create port forwarding rule; ip {ip.public_ip_address} has static "
                                  "nat enabled")
    protocol = rules.check_protocol(p.protocol, PF_PROTOCOLS)
    public_start, public_end, private_start, private_end = forward_ports(p)
    vm, address = forward_target(ctx, p, network, ip)
    cidrs = rules.check_cidrs(p.cidrlist)
    rule = rules.new_rule(ctx, purpose=rules.PORT_FORWARDING, protocol=protocol, start_port=public_start,
                          end_port=public_end, source_cidrs=rules.joined(cidrs), ip_address_id=ip.id,
                          network_id=network.id, account_id=ip.account_id, domain_id=ip.domain_id,
                          for_display=p.fordisplay is not False)
    ctx.db.add(PortForwardingRule(id=rule.id, instance_id=vm.id, dest_ip_address=address,
                                  dest_port_start=private_start, dest_port_end=private_end))
    if p.openfirewall is not False:
        rules.open_firewall(ctx, rule)
    rule_event(ctx, "NET.RULEADD", rule, f"Port forwarding rule {public_start}-{public_end}/{protocol} on "
                                         f"{ip.public_ip_address} to {vm.name}:{private_start}")
    return rule


PF_PORTS = [
    Param("privateport", INTEGER, required=True, description="the starting port of port forwarding rule's "
                                                             "private port range"),
    Param("privateendport", INTEGER, description="the ending port of port forwarding rule's private port "
                                                 "range"),
    Param("publicport", INTEGER, required=True, description="the starting port of port forwarding rule's "
                                                            "public port range"),
    Param("publicendport", INTEGER,
          description="the ending port of port forwarding rule's private port range"),
]


@command("createPortForwardingRule", isasync=True, response="portforwardingrule", create=make_port_forward,
         instance_type="FirewallRule", params=[
             Param("ipaddressid", UUID, entity=PublicIp, required=True,
                   description="the IP address id of the port forwarding rule"),
             Param("protocol", STRING, required=True,
                   description="the protocol for the port forwarding rule. Valid values are TCP or UDP."),
             *PF_PORTS,
             Param("virtualmachineid", UUID, entity=VMInstance, required=True,
                   description="the ID of the virtual machine for the port forwarding rule"),
             Param("vmguestip", STRING,
                   description="VM guest nic secondary IP address for the port forwarding rule"),
             Param("networkid", UUID, entity=Network, check_access=False,
                   description="the network of the virtual machine the port forwarding rule will be created "
                               "for."),
             Param("openfirewall", BOOLEAN,
                   description="if true, firewall rule for source/end public port is automatically created; "
                               "if false - firewall rule has to be created explicitly. If not specified 1) "
                               "defaulted to false when PF rule is being created for VPC guest network 2) "
                               "in all other cases defaulted to true"),
             Param("cidrlist", LIST,
                   description="the source CIDR list to allow traffic from; all other CIDRs will be "
                               "blocked."),
             Param("fordisplay", BOOLEAN,
                   description="an optional field, whether to the display the rule to the end user or not"),
         ])
async def create_port_forwarding_rule(ctx, p):
    """Creates a port forwarding rule"""
    await apply_with_firewall(ctx, ctx.created)
    return views.port_forwarding_rules(ctx, [ctx.created])[0]


@command("deletePortForwardingRule", isasync=True, instance_type="FirewallRule", params=[
    Param("id", UUID, entity=FirewallRule, required=True, description="the ID of the port forwarding rule"),
])
async def delete_port_forwarding_rule(ctx, p):
    """Deletes a port forwarding rule"""
    await rules.revoke(ctx, rules.check_revocable(p.id, rules.PORT_FORWARDING))
    return {"success": True}


@command("updatePortForwardingRule", isasync=True, response="portforwardingrule",
         instance_type="FirewallRule", params=[
             Param("id", UUID, entity=FirewallRule, required=True,
                   description="the ID of the port forwarding rule"),
             Param("privateport", INTEGER, description="the private start port of the port forwarding rule"),
             Param("privateendport", INTEGER, description="the private end port of the port forwarding rule"),
             Param("virtualmachineid", UUID, entity=VMInstance,
                   description="the ID of the virtual machine for the port forwarding rule"),
             Param("vmguestip", STRING,
                   description="VM guest nic Secondary ip address for the port forwarding rule"),
             Param("fordisplay", BOOLEAN, description="an optional field, whether to the display the rule to "
                                                      "the end user or not"),
             Param("customid", STRING,
                   description="an optional field, in case you want to set a custom id to the resource. "
                               "Allowed to Root Admins only"),
         ])
async def update_port_forwarding_rule(ctx, p):
    """Updates a port forwarding rule. Only the private port and the virtual machine can be updated."""
    rule = rules.check_revocable(p.id, rules.PORT_FORWARDING)
    detail = ctx.db.get(PortForwardingRule, rule.id)
    if p.privateport is not None or p.privateendport is not None:
        start = p.privateport if p.privateport is not None else detail.dest_port_start
        start, end = rules.check_range(start, p.privateendport, "private port")
        if end - start != rule.end_port - rule.start_port:
            raise InvalidParameter("The private port range must be as long as the public port range")
        detail.dest_port_start, detail.dest_port_end = start, end
    if p.virtualmachineid is not None or p.vmguestip is not None:
        p["virtualmachineid"] = p.virtualmachineid or ctx.db.get(VMInstance, detail.instance_id)
        ip = ctx.db.get(PublicIp, rule.ip_address_id)
        vm, detail.dest_ip_address = forward_target(ctx, p, ctx.db.get(Network, rule.network_id), ip)
        detail.instance_id = vm.id
    if p.fordisplay is not None:
        rule.for_display = p.fordisplay
    if p.customid:
        rule.uuid = p.customid
    rule.state = rules.ADD
    await rules.apply(ctx, ctx.db.get(Network, rule.network_id), rules.PORT_FORWARDING)
    ctx.db.refresh(rule)
    return views.port_forwarding_rules(ctx, [rule])[0]


@command("listPortForwardingRules", response="portforwardingrule", listing="owned", params=[
    Param("id", UUID, entity=FirewallRule, check_access=False,
          description="Lists rule with the specified ID."),
    Param("ipaddressid", UUID, entity=PublicIp, description="the ID of IP address of the port forwarding "
                                                            "services"),
    Param("networkid", UUID, entity=Network, check_access=False, description="list port forwarding rules for "
                                                                             "certain network"),
    Param("fordisplay", BOOLEAN, description="list resources by display flag; only ROOT admin is eligible to "
                                             "pass this parameter"),
    Param("projectid", STRING, description="list objects by project"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
])
def list_port_forwarding_rules(ctx, p):
    """Lists all port forwarding rules for an IP address."""
    return rules.list_rules(ctx, p, rules.PORT_FORWARDING, "PortForwardingRule", views.port_forwarding_rules)
