"""Public load balancing rules on the virtual router: the rule (public port → private port, algorithm), the
VMs behind it, and its stickiness and health check policies. Each change is applied as the router's whole
haproxy configuration (LoadBalancerConfigCommand)."""

from sqlalchemy import select

from ..compute.models import VMInstance
from ..core.errors import InvalidParameter, PermissionDenied
from ..core.listing import page_bounds
from ..core.params import BOOLEAN, INTEGER, LIST, MAP, STRING, UUID, Param
from ..core.registry import command
from ..iam import limits
from ..iam.models import Account, Domain
from ..infra.models import DataCenter, PublicIp
from ..platform.tags import register_taggable
from ..usage.models import record_usage
from . import addresses, ips, rules
from . import rule_views as views
from .models import FirewallRule, LoadBalancerRule, LoadBalancerVmMap, Network

register_taggable("LoadBalancer", FirewallRule, FirewallRule.purpose == rules.LOAD_BALANCING)
ALGORITHMS = ("roundrobin", "leastconn", "source")
LB_PROTOCOLS = ("tcp", "udp", "tcp-proxy")


def lb_rule(rule: FirewallRule) -> FirewallRule:
    return rules.check_revocable(rule, rules.LOAD_BALANCING)


# ---- the rule -------------------------------------------------------------------------------------

def lb_address(ctx, p) -> PublicIp:
    """The rule's public address: the one named, or (zoneid + networkid) a new one for the network."""
    if p.publicipid is not None:
        return p.publicipid
    network = p.networkid
    if network is None:
        raise InvalidParameter("Unable to create load balancer rule: publicipid, or networkid to acquire an "
                               "address in, must be specified")
    owner = ctx.db.get(Account, network.account_id)
    ips.check_network(ctx, network, owner, p)
    limits.reserve(ctx, owner.id, "public_ip")
    ip = ips.claim(ctx, network, owner, None)
    ip.state = ips.ALLOCATED
    record_usage(ctx, "NET.IPASSIGN", account_id=owner.id, domain_id=owner.domain_id, zone_id=ip.zone_id,
                 resource=addresses.ip_resource(ip), resource_type=addresses.VIRTUAL, size=0)
    return ip


def make_balancer(ctx, p) -> FirewallRule:
    algorithm = (p.algorithm or "").lower()
    if algorithm not in ALGORITHMS:
        raise InvalidParameter(f"Invalid algorithm: {p.algorithm}; supported algorithms are "
                               f"{', '.join(ALGORITHMS)}")
    protocol = rules.check_protocol(p.protocol or "tcp", LB_PROTOCOLS)
    public = rules.check_port(p.publicport, "Public port")
    private = rules.check_port(p.privateport, "Private port")
    cidrs = rules.check_cidrs(p.cidrlist)
    ip = lb_address(ctx, p)
    network = rules.rule_network(ctx, ip, "Lb", "load balancer rule")
    if p.networkid is not None and p.networkid.id != network.id:
        raise InvalidParameter(f"The public IP address is not associated with network {p.networkid.name}")
    if ip.is_static_nat:
        raise rules.NetworkRuleConflict(f"Can't do load balance on ip address: {ip.public_ip_address}; it "
                                        "has static nat enabled")
    rule = rules.new_rule(ctx, purpose=rules.LOAD_BALANCING, protocol="udp" if protocol == "udp" else "tcp",
                          start_port=public, end_port=public, source_cidrs=rules.joined(cidrs),
                          ip_address_id=ip.id, network_id=network.id, account_id=ip.account_id,
                          domain_id=ip.domain_id, for_display=p.fordisplay is not False)
    ctx.db.add(LoadBalancerRule(id=rule.id, name=p.name, description=p.description, algorithm=algorithm,
                                default_port_start=private, default_port_end=private, lb_protocol=protocol))
    if p.openfirewall is not False:
        rules.open_firewall(ctx, rule)
    ctx.event("LB.CREATE", f"Load balancer rule {p.name} created on {ip.public_ip_address}:{public}",
              resource_type="LoadBalancer", resource_id=rule.uuid, account_id=rule.account_id,
              domain_id=rule.domain_id)
    return rule


@command("createLoadBalancerRule", isasync=True, response="loadbalancerrule", create=make_balancer,
         instance_type="FirewallRule", params=[
             Param("name", STRING, required=True, description="name of the load balancer rule"),
             Param("algorithm", STRING, required=True, description="load balancer algorithm (source, "
                                                                   "roundrobin, leastconn)"),
             Param("privateport", INTEGER, required=True, description="the private port of the private IP "
                                                                      "address/virtual machine where the "
                                                                      "network traffic will be load balanced "
                                                                      "to"),
             Param("publicport", INTEGER, required=True, description="the public port from where the network "
                                                                     "traffic will be load balanced from"),
             Param("publicipid", UUID, entity=PublicIp, description="public IP address ID from where the "
                                                                    "network traffic will be load balanced "
                                                                    "from"),
             Param("zoneid", UUID, entity=DataCenter,
                   description="zone where the load balancer is going to be created. This parameter is "
                               "required when LB service provider is ElasticLoadBalancerVm"),
             Param("networkid", UUID, entity=Network, check_access=False,
                   description="The guest network this rule will be created for. Required when public Ip "
                               "address is not associated with any Guest network yet (VPC case)"),
             Param("description", STRING, length=4096, description="the description of the load balancer "
                                                                   "rule"),
             Param("openfirewall", BOOLEAN,
                   description="if true, firewall rule for source/end public port is automatically created; "
                               "if false - firewall rule has to be created explicitly. Has value true by "
                               "default"),
             Param("cidrlist", LIST,
                   description="the source CIDR list to allow traffic from; all other CIDRs will be "
                               "blocked."),
             Param("protocol", STRING, description="The protocol for the LB such as tcp, udp or tcp-proxy."),
             Param("account", STRING,
                   description="the account associated with the load balancer. Must be used with the "
                               "domainId parameter."),
             Param("domainid", UUID, entity=Domain, description="the domain ID associated with the load "
                                                                "balancer"),
             Param("fordisplay", BOOLEAN, description="an optional field, whether to the display the rule to "
                                                      "the end user or not"),
         ])
async def create_load_balancer_rule(ctx, p):
    """Creates a load balancer rule"""
    rule = ctx.created
    network = ctx.db.get(Network, rule.network_id)
    if p.publicipid is None:
        await ips.tell_router(ctx, network, ctx.db.get(PublicIp, rule.ip_address_id), add=True)
    if rules.related_rules(ctx, rule):
        await rules.apply(ctx, network, rules.FIREWALL)
    await rules.apply(ctx, network, rules.LOAD_BALANCING)
    ctx.db.refresh(rule)
    return views.load_balancer_rules(ctx, [rule])[0]


@command("deleteLoadBalancerRule", isasync=True, instance_type="FirewallRule", params=[
    Param("id", UUID, entity=FirewallRule, required=True, description="the ID of the load balancer rule"),
])
async def delete_load_balancer_rule(ctx, p):
    """Deletes a load balancer rule."""
    await rules.revoke(ctx, lb_rule(p.id))
    return {"success": True}


@command("updateLoadBalancerRule", isasync=True, response="loadbalancerrule", instance_type="FirewallRule",
         params=[
             Param("id", UUID, entity=FirewallRule, required=True, description="the ID of the load balancer "
                                                                               "rule to update"),
             Param("name", STRING, description="the name of the load balancer rule"),
             Param("description", STRING, length=4096, description="the description of the load balancer "
                                                                   "rule"),
             Param("algorithm", STRING,
                   description="load balancer algorithm (source, roundrobin, leastconn)"),
             Param("protocol", STRING, description="The protocol for the LB"),
             Param("fordisplay", BOOLEAN, description="an optional field, whether to the display the rule to "
                                                      "the end user or not"),
             Param("customid", STRING,
                   description="an optional field, in case you want to set a custom id to the resource. "
                               "Allowed to Root Admins only"),
         ])
async def update_load_balancer_rule(ctx, p):
    """Updates load balancer"""
    rule = lb_rule(p.id)
    lb = ctx.db.get(LoadBalancerRule, rule.id)
    if p.algorithm is not None:
        if p.algorithm.lower() not in ALGORITHMS:
            raise InvalidParameter(f"Invalid algorithm: {p.algorithm}")
        lb.algorithm = p.algorithm.lower()
    if p.protocol is not None:
        lb.lb_protocol = rules.check_protocol(p.protocol, LB_PROTOCOLS)
    lb.name = p.name or lb.name
    lb.description = p.description if p.description is not None else lb.description
    if p.fordisplay is not None:
        rule.for_display = p.fordisplay
    if p.customid:
        rule.uuid = p.customid
    if p.algorithm is not None or p.protocol is not None:
        rule.state = rules.ADD
        await rules.apply(ctx, ctx.db.get(Network, rule.network_id), rules.LOAD_BALANCING)
    ctx.db.refresh(rule)
    return views.load_balancer_rules(ctx, [rule])[0]


@command("listLoadBalancerRules", response="loadbalancerrule", listing="owned", params=[
    Param("id", UUID, entity=FirewallRule, check_access=False,
          description="the ID of the load balancer rule"),
    Param("name", STRING, description="the name of the load balancer rule"),
    Param("publicipid", UUID, entity=PublicIp, description="the public IP address ID of the load balancer "
                                                           "rule"),
    Param("virtualmachineid", UUID, entity=VMInstance,
          description="the ID of the virtual machine of the load balancer rule"),
    Param("zoneid", UUID, entity=DataCenter, description="the availability zone ID"),
    Param("networkid", UUID, entity=Network, check_access=False, description="list by network ID the rule "
                                                                             "belongs to"),
    Param("fordisplay", BOOLEAN, description="list resources by display flag; only ROOT admin is eligible to "
                                             "pass this parameter"),
    Param("projectid", STRING, description="list objects by project"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
])
def list_load_balancer_rules(ctx, p):
    """Lists load balancer rules."""
    p["ipaddressid"] = p.publicipid

    def narrowed(query):
        if p.name:
            query = query.where(FirewallRule.id.in_(select(LoadBalancerRule.id).where(
                LoadBalancerRule.name == p.name)))
        if p.virtualmachineid is not None:
            query = query.where(FirewallRule.id.in_(select(LoadBalancerVmMap.load_balancer_id).where(
                LoadBalancerVmMap.instance_id == p.virtualmachineid.id)))
        if p.zoneid is not None:
            query = query.where(FirewallRule.network_id.in_(select(Network.id).where(
                Network.zone_id == p.zoneid.id)))
        return query

    return rules.list_rules(ctx, p, rules.LOAD_BALANCING, "LoadBalancer", views.load_balancer_rules,
                            narrow=narrowed)


# ---- members --------------------------------------------------------------------------------------

def wanted_members(ctx, p, rule: FirewallRule) -> list[tuple[VMInstance, str]]:
    """(VM, guest address) pairs from virtualmachineids and vmidipmap, each checked."""
    network = ctx.db.get(Network, rule.network_id)
    pairs = []
    for vm in p.virtualmachineids or ():
        pairs.append((vm, None))
    for entry in p.vmidipmap or ():
        lowered = {k.lower(): v for k, v in entry.items()}
        vm = ctx.db.scalars(select(VMInstance).where(VMInstance.uuid == lowered.get("vmid"))).first()
        if vm is None:
            raise InvalidParameter(f"Unable to find virtual machine by id {lowered.get('vmid')} in vmidipmap")
        pairs.append((vm, lowered.get("vmip")))
    if not pairs:
        raise InvalidParameter("Either virtualmachineids or vmidipmap must be specified")
    found = []
    for vm, wanted in pairs:
        rules.guest_vm(ctx, vm, "load balancer rule assignment")
        if vm.account_id != rule.account_id:
            raise PermissionDenied("Cannot add virtual machines that do not belong to the same owner.")
        nic = rules.vm_nic(ctx, vm, network, "load balancer rule assignment")
        found.append((vm, rules.guest_ip(ctx, nic, wanted)))
    return found


def members(ctx, rule: FirewallRule) -> list[LoadBalancerVmMap]:
    return list(ctx.db.scalars(select(LoadBalancerVmMap).where(LoadBalancerVmMap.load_balancer_id == rule.id)
                               .order_by(LoadBalancerVmMap.id)))


MEMBER_PARAMS = [
    Param("id", UUID, entity=FirewallRule, required=True, description="the ID of the load balancer rule"),
    Param("virtualmachineids", LIST, of=UUID, entity=VMInstance,
          description="the list of IDs of the virtual machine that are being assigned to the load balancer "
                      "rule(i.e. virtualMachineIds=1,2,3)"),
    Param("vmidipmap", MAP, since="4.4",
          description="VM ID and IP map, vmidipmap[0].vmid=1 vmidipmap[0].vmip=10.1.1.75"),
]


@command("assignToLoadBalancerRule", isasync=True, instance_type="FirewallRule", params=MEMBER_PARAMS)
async def assign_to_load_balancer_rule(ctx, p):
    """Assigns virtual machine or a list of virtual machines to a load balancer rule."""
    rule = lb_rule(p.id)
    current = {(m.instance_id, m.instance_ip) for m in members(ctx, rule) if m.state != rules.REVOKE}
    added = []
    for vm, address in wanted_members(ctx, p, rule):
        if (vm.id, address) in current:
            raise InvalidParameter(f"VM {vm.name} ({address}) is already mapped to load balancer rule "
                                   f"{rule.uuid}")
        mapping = LoadBalancerVmMap(load_balancer_id=rule.id, instance_id=vm.id, instance_ip=address)
        ctx.db.add(mapping)
        added.append(mapping)
        current.add((vm.id, address))
    ctx.db.flush()
    ids = [m.id for m in added]
    try:
        await rules.apply(ctx, ctx.db.get(Network, rule.network_id), rules.LOAD_BALANCING)
    except Exception:
        # Upstream takes failed members out again: the rule keeps the members it had.
        ctx.db.query(LoadBalancerVmMap).filter(LoadBalancerVmMap.id.in_(ids)).delete()
        ctx.commit()
        raise
    return {"success": True}


@command("removeFromLoadBalancerRule", isasync=True, instance_type="FirewallRule", params=MEMBER_PARAMS)
async def remove_from_load_balancer_rule(ctx, p):
    """Removes a virtual machine or a list of virtual machines from a load balancer rule."""
    rule = lb_rule(p.id)
    leaving = []
    by_vm = {}
    for mapping in members(ctx, rule):
        by_vm.setdefault(mapping.instance_id, []).append(mapping)
    for vm, address in wanted_members(ctx, p, rule):
        chosen = [m for m in by_vm.get(vm.id, []) if address is None or m.instance_ip == address]
        if not chosen:
            raise InvalidParameter(f"VM {vm.name} is not assigned to load balancer rule {rule.uuid}")
        leaving += chosen
    for mapping in leaving:
        mapping.state = rules.REVOKE
    try:
        await rules.apply(ctx, ctx.db.get(Network, rule.network_id), rules.LOAD_BALANCING)
    except Exception:
        for mapping in leaving:
            ctx.db.refresh(mapping)
            mapping.state = rules.ACTIVE
        ctx.commit()
        raise
    return {"success": True}


@command("listLoadBalancerRuleInstances", response=None, listing="list", params=[
    Param("id", UUID, entity=FirewallRule, required=True, description="the ID of the load balancer rule"),
    Param("applied", BOOLEAN,
          description="true if listing all virtual machines currently applied to the load balancer rule; "
                      "default is true"),
    Param("lbvmips", BOOLEAN, description="true if load balancer rule VM IP information to be included; "
                                          "default is false"),
])
def list_load_balancer_rule_instances(ctx, p):
    """List all virtual machine instances that are assigned to a load balancer rule."""
    from ..compute import vm_views  # at call time: compute's views are compute's to load

    rule = lb_rule(p.id)
    applied = [m for m in members(ctx, rule) if m.state != rules.REVOKE]
    if p.applied is False:
        taken = {m.instance_id for m in applied}
        vms = candidates(ctx, rule, taken)
        addresses_of = {}
    else:
        vm_ids = list(dict.fromkeys(m.instance_id for m in applied))
        rows = {vm.id: vm for vm in ctx.db.scalars(select(VMInstance).where(VMInstance.id.in_(vm_ids)))}
        vms = [rows[i] for i in vm_ids if i in rows]
        addresses_of = {}
        for m in applied:
            addresses_of.setdefault(m.instance_id, []).append(m.instance_ip)
    limit, offset = page_bounds(ctx, p)
    page = vms[offset:] if limit is None else vms[offset:offset + limit]
    items = vm_views.views(ctx, page)
    for item in items:
        item["servicestate"] = "Unknown" if rule.state == rules.ACTIVE else rule.state
    if not vms:
        return {}
    if p.lbvmips:
        key = "lbrulevmidip"
        items = [{"loadbalancerruleinstance": item, "lbvmipaddresses": addresses_of.get(vm.id, [])}
                 for item, vm in zip(items, page, strict=True)]
    else:
        key = "loadbalancerruleinstance"
    return {"count": len(vms), key: items} if items else {"count": len(vms)}


def candidates(ctx, rule: FirewallRule, taken: set[int]) -> list[VMInstance]:
    """VMs of the rule's owner with a NIC in its network that are not behind it yet (applied=false)."""
    from .models import Nic

    query = select(VMInstance).join(Nic, Nic.instance_id == VMInstance.id).where(
        Nic.network_id == rule.network_id, VMInstance.account_id == rule.account_id,
        VMInstance.type == "User", VMInstance.removed.is_(None),
        VMInstance.state.not_in(("Destroyed", "Expunging", "Error"))).order_by(VMInstance.id)
    return [vm for vm in ctx.db.scalars(query) if vm.id not in taken]

