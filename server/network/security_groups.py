"""Security groups (Basic zones and Advanced zones with security groups): groups of VMs filtering their
traffic by ingress and egress rules.

Every account has a `default` group (deny all inbound, allow all outbound), created on first use. A VM
deployed in a network with the SecurityGroup service joins the groups it names, else `default`; the
membership lasts its lifetime. A rule change is programmed on the host of every running member
(SecurityGroupRulesCmd, carrying the VM's whole rule set) after the change is committed; a host that
refuses it fails the change, which is then undone.
"""

from sqlalchemy import delete, func, select

from ..compute.models import VMInstance
from ..core.errors import InvalidParameter, PermissionDenied, ResourceInUse
from ..core.listing import check_owner, owner_filter, paged
from ..core.params import INTEGER, LIST, MAP, STRING, UUID, Param
from ..core.registry import command
from ..core.responses import describe
from ..iam.models import Account, Domain
from ..iam.owners import finalize_owner
from ..platform.tags import register_taggable, tag_filter, tags_for
from . import rule_views
from .models import SecurityGroup, SecurityGroupRule, SecurityGroupVmMap
from .rules import check_cidrs
from .security_group_members import (
    ACTIVE,
    ADD,
    DEFAULT,
    EGRESS,
    INGRESS,
    REVOKE,
    RulesNotProgrammed,
    ensure_default,
    group_named,
    group_rules,
    program,
)

register_taggable("SecurityGroup", SecurityGroup)
PROTOCOL_NUMBERS = {"1": "icmp", "6": "tcp", "17": "udp"}


# ---- groups ---------------------------------------------------------------------------------------

def target_group(ctx, p, id_key: str = "securitygroupid",
                 name_key: str = "securitygroupname") -> SecurityGroup:
    """The group a command names by id, or by name (the caller's, or account + domainid's)."""
    group, name = p.get(id_key), p.get(name_key)
    if (group is None) == (name is None):
        raise InvalidParameter(f"Either {id_key} or {name_key} must be specified (not both)")
    if group is not None:
        return group
    owner = finalize_owner(ctx, p.account, p.domainid)
    found = ensure_default(ctx, owner) if name == DEFAULT else group_named(ctx, owner, name)
    if found is None:
        raise InvalidParameter(f"Unable to find security group {name} of account {owner.account_name}")
    return found


OWNER = [
    Param("account", STRING, description="an optional account for the security group. Must be used with "
                                         "domainId."),
    Param("domainid", UUID, entity=Domain,
          description="an optional domainId for the security group. If the account parameter is used, "
                      "domainId must also be used."),
    Param("projectid", STRING, description="Create security group for project"),
]


@command("createSecurityGroup", response="securitygroup", params=[
    Param("name", STRING, required=True, description="name of the security group"),
    Param("description", STRING, length=4096, description="the description of the security group"),
    *OWNER,
])
def create_security_group(ctx, p):
    """Creates a security group"""
    owner = finalize_owner(ctx, p.account, p.domainid)
    ensure_default(ctx, owner)
    if p.name.lower() == DEFAULT:
        raise InvalidParameter("Unable to create security group: the name default is reserved")
    if group_named(ctx, owner, p.name) is not None:
        raise InvalidParameter(f"Unable to create security group, a group with name {p.name} already exists.")
    group = SecurityGroup(name=p.name, description=p.description or p.name, account_id=owner.id,
                          domain_id=owner.domain_id)
    ctx.db.add(group)
    ctx.db.flush()
    ctx.event("SG.CREATE", f"Security group {p.name} created", resource_type="SecurityGroup",
              resource_id=group.uuid, account_id=owner.id, domain_id=owner.domain_id)
    return views(ctx, [group])[0]


@command("deleteSecurityGroup", params=[
    Param("id", UUID, entity=SecurityGroup,
          description="The ID of the security group. Mutually exclusive with name parameter"),
    Param("name", STRING, description="The ID of the security group. Mutually exclusive with id parameter"),
    *OWNER,
], fields={"success": "true if operation is executed successfully"})
def delete_security_group(ctx, p):
    """Deletes security group"""
    group = target_group(ctx, p, "id", "name")
    if group.name == DEFAULT:
        raise InvalidParameter("The network group default is reserved: the default security group can't be "
                               "deleted")
    used = ctx.db.scalar(select(func.count()).select_from(SecurityGroupVmMap).join(
        VMInstance, VMInstance.id == SecurityGroupVmMap.instance_id).where(
        SecurityGroupVmMap.security_group_id == group.id, VMInstance.removed.is_(None)))
    if used:
        raise ResourceInUse(f"Cannot delete group when it's in use by virtual machines: security group "
                            f"{group.name} has {used}")
    ctx.db.execute(delete(SecurityGroupRule).where(SecurityGroupRule.security_group_id == group.id))
    ctx.db.execute(delete(SecurityGroupVmMap).where(SecurityGroupVmMap.security_group_id == group.id))
    ctx.event("SG.DELETE", f"Security group {group.name} deleted", resource_type="SecurityGroup",
              resource_id=group.uuid, account_id=group.account_id, domain_id=group.domain_id)
    ctx.db.delete(group)
    return {"success": True}


@command("updateSecurityGroup", response="securitygroup", params=[
    Param("id", UUID, entity=SecurityGroup, required=True, description="The ID of the security group."),
    Param("name", STRING, description="The new name of the security group."),
    Param("customid", STRING, description="an optional field, in case you want to set a custom id to the "
                                          "resource. Allowed to Root Admins only"),
])
def update_security_group(ctx, p):
    """Updates a security group"""
    group = p.id
    if p.name and p.name != group.name:
        if group.name == DEFAULT or p.name.lower() == DEFAULT:
            raise InvalidParameter("The network group default is reserved: it can't be renamed, nor can a "
                                   "group take its name")
        if ctx.db.scalar(select(SecurityGroup.id).where(SecurityGroup.account_id == group.account_id,
                                                        SecurityGroup.name == p.name)) is not None:
            raise InvalidParameter(f"Unable to update security group, a group with name {p.name} already "
                                   "exists.")
        group.name = p.name
    if p.customid:
        if not (ctx.caller.is_root_admin or ctx.caller.is_system):
            raise PermissionDenied("Only root admins can set a custom id")
        group.uuid = p.customid
    ctx.db.flush()
    return views(ctx, [group])[0]


@command("listSecurityGroups", response="securitygroup", listing="owned", params=[
    Param("id", UUID, entity=SecurityGroup, check_access=False,
          description="list the security group by the id provided"),
    Param("securitygroupname", STRING, description="lists security groups by name"),
    Param("virtualmachineid", UUID, entity=VMInstance, description="lists security groups by virtual machine "
                                                                   "id"),
    Param("projectid", STRING, description="list objects by project"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
])
def list_security_groups(ctx, p):
    """Lists security groups"""
    if not p.id and not p.listall and (p.account is None) == (p.domainid is None):
        # Upstream creates the default group with the account; here it appears when first looked for.
        ensure_default(ctx, finalize_owner(ctx, p.account, p.domainid))
    query = owner_filter(ctx, p, select(SecurityGroup).where(SecurityGroup.removed.is_(None)), SecurityGroup)
    if p.id is not None:
        check_owner(ctx, p.id.account_id, p.id.domain_id)
        query = query.where(SecurityGroup.id == p.id.id)
    if p.securitygroupname:
        query = query.where(SecurityGroup.name == p.securitygroupname)
    if p.virtualmachineid is not None:
        query = query.where(SecurityGroup.id.in_(select(SecurityGroupVmMap.security_group_id).where(
            SecurityGroupVmMap.instance_id == p.virtualmachineid.id)))
    if p.tags:
        query = tag_filter(ctx, query, SecurityGroup, "SecurityGroup", p.tags)
    result = paged(ctx, p, query, lambda group: group, keyword_columns=(SecurityGroup.name,),
                   order_by=SecurityGroup.id)
    result.items = views(ctx, result.items)
    return result


# ---- rules ----------------------------------------------------------------------------------------

def rule_protocol(value: str) -> str:
    protocol = (value or "").strip().lower()
    protocol = PROTOCOL_NUMBERS.get(protocol, protocol)
    if protocol in ("tcp", "udp", "icmp", "all"):
        return protocol
    if protocol.isdigit() and 0 <= int(protocol) <= 255:
        return protocol
    raise InvalidParameter(f"Invalid protocol {value}: use tcp, udp, icmp, all or a protocol number 0-255")


def rule_ports(protocol: str, p) -> tuple[int | None, int | None]:
    """(start, end) — an ICMP rule's type and code, as upstream stores them."""
    if protocol == "icmp":
        if p.startport is not None or p.endport is not None:
            raise InvalidParameter("Can't specify start/end port when protocol is ICMP")
        icmp_type = -1 if p.icmptype is None else p.icmptype
        icmp_code = -1 if p.icmpcode is None else p.icmpcode
        if not -1 <= icmp_type <= 255 or not -1 <= icmp_code <= 255:
            raise InvalidParameter("Invalid ICMP type/code specified, icmpType = -1 or 0..255, icmpCode = -1 "
                                   "or 0..255")
        return icmp_type, icmp_code
    if p.icmptype is not None or p.icmpcode is not None:
        raise InvalidParameter("Can specify icmpCode and icmpType for ICMP protocol only")
    if protocol not in ("tcp", "udp"):
        if p.startport is not None or p.endport is not None:
            raise InvalidParameter(f"Can't specify start/end port when protocol is {protocol}")
        return None, None
    start = p.startport
    end = start if p.endport is None else p.endport
    if start is None or not 0 <= start <= 65535 or not 0 <= end <= 65535 or start > end:
        raise InvalidParameter(f"Invalid port range {start}:{end}")
    return start, end


def allowed_groups(ctx, group: SecurityGroup, entries) -> list[SecurityGroup]:
    """usersecuritygrouplist[i].account/group: groups of accounts of the group's domain."""
    found = []
    for entry in entries or ():
        lowered = {k.lower(): v for k, v in entry.items()}
        account = ctx.db.scalars(select(Account).where(Account.account_name == lowered.get("account"),
                                                       Account.domain_id == group.domain_id,
                                                       Account.removed.is_(None))).first()
        other = None if account is None else (
            ensure_default(ctx, account) if lowered.get("group") == DEFAULT
            else group_named(ctx, account, lowered.get("group")))
        if other is None:
            raise InvalidParameter(f"Unable to find security group {lowered.get('group')} of account "
                                   f"{lowered.get('account')}")
        found.append(other)
    return found


def new_rules(ctx, p, group: SecurityGroup, kind: str) -> list[SecurityGroupRule]:
    protocol = rule_protocol(p.protocol or "tcp")
    start, end = rule_ports(protocol, p)
    cidrs = check_cidrs(p.cidrlist, "cidr")
    others = allowed_groups(ctx, group, p.usersecuritygrouplist)
    if not cidrs and not others:
        raise InvalidParameter("At least one cidr or at least one security group needs to be specified")
    existing = {(r.protocol, r.start_port, r.end_port, r.allowed_ip_cidr, r.allowed_group_id)
                for r in group_rules(ctx, [group.id]) if r.type == kind and r.state != REVOKE}
    made = []
    for cidr, other in [(c, None) for c in cidrs] + [(None, g.id) for g in others]:
        key = (protocol, start, end, cidr, other)
        if key in existing:
            continue
        existing.add(key)
        made.append(SecurityGroupRule(security_group_id=group.id, type=kind, protocol=protocol,
                                      start_port=start, end_port=end, allowed_ip_cidr=cidr,
                                      allowed_group_id=other, state=ADD))
    if not made:
        raise RulesNotProgrammed(f"Failed to authorize security group {kind} rule(s): the rules already "
                                 "exist")
    return made


async def authorize(ctx, p, kind: str) -> dict:
    group = target_group(ctx, p)
    made = new_rules(ctx, p, group, kind)
    ctx.db.add_all(made)
    ctx.db.flush()
    ids = [rule.id for rule in made]
    try:
        await program(ctx, [group.id])
    except Exception:
        ctx.db.execute(delete(SecurityGroupRule).where(SecurityGroupRule.id.in_(ids)))
        ctx.commit()
        raise
    for rule in made:
        ctx.db.refresh(rule)
        rule.state = ACTIVE
    ctx.event(f"SG.AUTH.{kind.upper()}",
              f"{len(made)} {kind} rule(s) authorized in security group {group.name}",
              resource_type="SecurityGroup", resource_id=group.uuid, account_id=group.account_id,
              domain_id=group.domain_id)
    return views(ctx, [group], only=made)[0]


async def revoke(ctx, rule: SecurityGroupRule, kind: str) -> dict:
    group = ctx.db.get(SecurityGroup, rule.security_group_id)
    check_owner(ctx, group.account_id, group.domain_id)
    if rule.type != kind:
        raise InvalidParameter(f"Unable to find {kind} rule by id={rule.uuid}")
    rule.state = REVOKE
    try:
        await program(ctx, [group.id])
    except Exception:
        ctx.db.refresh(rule)
        rule.state = ACTIVE
        ctx.commit()
        raise
    ctx.db.execute(delete(SecurityGroupRule).where(SecurityGroupRule.id == rule.id))
    ctx.event(f"SG.REVOKE.{kind.upper()}", f"Security group {kind} rule {rule.uuid} revoked",
              resource_type="SecurityGroup", resource_id=group.uuid, account_id=group.account_id,
              domain_id=group.domain_id)
    return {"success": True}


RULE_PARAMS = [
    Param("securitygroupid", UUID, entity=SecurityGroup,
          description="The ID of the security group. Mutually exclusive with securityGroupName parameter"),
    Param("securitygroupname", STRING, description="The name of the security group. Mutually exclusive with "
                                                   "securityGroupId parameter"),
    Param("protocol", STRING, description="TCP is default. UDP is the other supported protocol"),
    Param("startport", INTEGER, description="start port for this ingress rule"),
    Param("endport", INTEGER, description="end port for this ingress rule"),
    Param("icmptype", INTEGER, description="type of the icmp message being sent"),
    Param("icmpcode", INTEGER, description="error code for this icmp message"),
    Param("cidrlist", LIST, description="the cidr list associated. Multiple entries must be separated by a "
                                        "single comma character (,)."),
    Param("usersecuritygrouplist", MAP, description="user to security group mapping"),
    *OWNER,
]


@command("authorizeSecurityGroupIngress", isasync=True, response="securitygroup",
         instance_type="SecurityGroup", params=RULE_PARAMS)
async def authorize_security_group_ingress(ctx, p):
    """Authorizes a particular ingress rule for this security group"""
    return await authorize(ctx, p, INGRESS)


@command("authorizeSecurityGroupEgress", isasync=True, response="securitygroup",
         instance_type="SecurityGroup", params=RULE_PARAMS)
async def authorize_security_group_egress(ctx, p):
    """Authorizes a particular egress rule for this security group"""
    return await authorize(ctx, p, EGRESS)


@command("revokeSecurityGroupIngress", isasync=True, instance_type="SecurityGroup", params=[
    Param("id", UUID, entity=SecurityGroupRule, required=True, description="The ID of the ingress rule"),
])
async def revoke_security_group_ingress(ctx, p):
    """Deletes a particular ingress rule from this security group"""
    return await revoke(ctx, p.id, INGRESS)


@command("revokeSecurityGroupEgress", isasync=True, instance_type="SecurityGroup", params=[
    Param("id", UUID, entity=SecurityGroupRule, required=True, description="The ID of the egress rule"),
])
async def revoke_security_group_egress(ctx, p):
    """Deletes a particular egress rule from this security group"""
    return await revoke(ctx, p.id, EGRESS)


# ---- views ----------------------------------------------------------------------------------------

def rule_view(rule: SecurityGroupRule, group_names: dict, owner_names: dict) -> dict:
    answer = {"ruleid": rule.uuid, "protocol": rule.protocol, "cidr": rule.allowed_ip_cidr, "tags": []}
    if rule.protocol == "icmp":
        answer.update(icmptype=rule.start_port, icmpcode=rule.end_port)
    else:
        answer.update(startport=rule.start_port, endport=rule.end_port)
    if rule.allowed_group_id is not None:
        answer.update(securitygroupname=group_names.get(rule.allowed_group_id),
                      account=owner_names.get(rule.allowed_group_id))
    return answer


def views(ctx, groups: list[SecurityGroup], only: list[SecurityGroupRule] | None = None) -> list[dict]:
    owner = rule_views.owners(ctx, groups)
    ids = [g.id for g in groups]
    all_rules = only if only is not None else [r for r in group_rules(ctx, ids) if r.state != REVOKE]
    allowed = rule_views.by_id(ctx, SecurityGroup, (r.allowed_group_id for r in all_rules))
    accounts = rule_views.by_id(ctx, Account, (g.account_id for g in allowed.values()))
    group_names = {i: g.name for i, g in allowed.items()}
    owner_names = {i: getattr(accounts.get(g.account_id), "account_name", None) for i, g in allowed.items()}
    member_rows = ctx.db.execute(select(SecurityGroupVmMap.security_group_id, VMInstance.uuid).join(
        VMInstance, VMInstance.id == SecurityGroupVmMap.instance_id).where(
        SecurityGroupVmMap.security_group_id.in_(ids), VMInstance.removed.is_(None))).all() if ids else []
    tags = tags_for(ctx, "SecurityGroup", ids)
    answers = []
    for group in groups:
        mine = [r for r in all_rules if r.security_group_id == group.id]
        vms = [uuid for gid, uuid in member_rows if gid == group.id]
        answers.append({
            "id": group.uuid, "name": group.name, "description": group.description, **owner(group),
            "ingressrule": [rule_view(r, group_names, owner_names) for r in mine if r.type == INGRESS],
            "egressrule": [rule_view(r, group_names, owner_names) for r in mine if r.type == EGRESS],
            "virtualmachinecount": len(vms), "virtualmachineids": vms, "tags": tags.get(group.id, [])})
    return answers


describe("securitygroup", {
    "id": "the ID of the security group",
    "name": "the name of the security group",
    "description": "the description of the security group",
    "account": "the account owning the security group",
    "domainid": "the domain ID of the security group",
    "domain": "the domain name of the security group",
    "ingressrule": "the list of ingress rules associated with the security group",
    "egressrule": "the list of egress rules associated with the security group",
    "virtualmachinecount": "the number of virtualmachines associated with this securitygroup",
    "virtualmachineids": "the list of virtualmachine ids associated with this securitygroup",
    "tags": "the list of resource tags associated with the rule",
})
