"""Security group membership and the hosts' rule sets: each account's `default` group, VMs joining groups
at deployment, and programming the host of every running member (SecurityGroupRulesCmd, carrying the VM's
whole rule set) once a change is committed."""

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from ..compute.models import VMInstance
from ..core.db import core, prebuilt
from ..core.errors import ApiError, InvalidParameter, PermissionDenied
from ..hypervisors.base import driver_for
from ..iam.models import Account
from ..infra.models import Host
from .guest_creation import services_of
from .models import Nic, SecurityGroup, SecurityGroupRule, SecurityGroupVmMap

DEFAULT, DEFAULT_DESCRIPTION = "default", "Default Security Group"
INGRESS, EGRESS = "ingress", "egress"
ADD, ACTIVE, REVOKE = "Add", "Active", "Revoke"
ON_HOST = ("Starting", "Running", "Stopping", "Migrating")


class RulesNotProgrammed(ApiError):
    errorcode = 530
    cserrorcode = 4250


def ensure_default(ctx, account: Account) -> SecurityGroup:
    """The account's default group, created on first use (another server may create it at once)."""
    found = group_named(ctx, account, DEFAULT)
    if found is not None:
        return found
    try:
        with ctx.db.begin_nested():
            group = SecurityGroup(name=DEFAULT, description=DEFAULT_DESCRIPTION, account_id=account.id,
                                  domain_id=account.domain_id)
            ctx.db.add(group)
            ctx.db.flush()
        return group
    except IntegrityError:
        return group_named(ctx, account, DEFAULT)


def group_named(ctx, account: Account, name: str) -> SecurityGroup | None:
    return ctx.db.scalars(select(SecurityGroup).where(SecurityGroup.account_id == account.id,
                                                      SecurityGroup.name == name,
                                                      SecurityGroup.removed.is_(None))).first()


def members(ctx, group_ids: list[int]) -> list[VMInstance]:
    if not group_ids:
        return []
    return list(ctx.db.scalars(select(VMInstance).join(
        SecurityGroupVmMap, SecurityGroupVmMap.instance_id == VMInstance.id).where(
        SecurityGroupVmMap.security_group_id.in_(group_ids), VMInstance.removed.is_(None)).distinct()))


def group_rules(ctx, group_ids: list[int]) -> list[SecurityGroupRule]:
    if not group_ids:
        return []
    return list(ctx.db.scalars(select(SecurityGroupRule).where(
        SecurityGroupRule.security_group_id.in_(group_ids)).order_by(SecurityGroupRule.id)))


def ruleset(ctx, vm: VMInstance) -> dict:
    """The VM's rules from all its groups (rules naming a group expand to its members' addresses)."""
    group_ids = list(ctx.db.scalars(select(SecurityGroupVmMap.security_group_id).where(
        SecurityGroupVmMap.instance_id == vm.id)))
    found = {INGRESS: [], EGRESS: []}
    for rule in group_rules(ctx, group_ids):
        if rule.state == REVOKE:
            continue
        sources = [rule.allowed_ip_cidr] if rule.allowed_ip_cidr else member_cidrs(ctx, rule.allowed_group_id)
        found[rule.type].append({"protocol": rule.protocol, "startport": rule.start_port,
                                 "endport": rule.end_port, "cidrs": sources})
    guest = ctx.db.scalar(select(Nic.ip4_address).where(Nic.instance_id == vm.id, Nic.is_default.is_(True)))
    return {"vm": vm.name, "vmid": vm.uuid, "guestip": guest, "ingress": found[INGRESS],
            "egress": found[EGRESS], "seqnum": vm.update_count}


def member_cidrs(ctx, group_id: int | None) -> list[str]:
    addresses = ctx.db.scalars(select(Nic.ip4_address).join(
        SecurityGroupVmMap, SecurityGroupVmMap.instance_id == Nic.instance_id).where(
        SecurityGroupVmMap.security_group_id == group_id, Nic.is_default.is_(True),
        Nic.ip4_address.is_not(None)))
    return [f"{address}/32" for address in addresses]


async def program_one(ctx, vm: VMInstance, host: Host) -> None:
    answer = await driver_for(host.hypervisor_type).execute(ctx, host, "SecurityGroupRulesCmd",
                                                            **ruleset(ctx, vm))
    # The simulator answers a mock's `enabled:false` as a refused rule set, as upstream's does.
    if answer.get("result") is False or str(answer.get("enabled", "true")).lower() == "false":
        raise RulesNotProgrammed(f"Failed to program security group rules of VM {vm.name} on host "
                                 f"{host.name}: {answer.get('details') or 'refused'}")


async def program(ctx, group_ids: list[int]) -> None:
    """Send each running member of the groups its rule set; the caller's change is committed first."""
    ctx.commit()
    for vm in members(ctx, group_ids):
        host = ctx.db.get(Host, vm.host_id) if vm.host_id and vm.state in ON_HOST else None
        if host is None:
            continue
        try:
            await program_one(ctx, vm, host)
        except RulesNotProgrammed:
            raise
        except ApiError as error:
            raise RulesNotProgrammed(f"Failed to program security group rules of VM {vm.name} on host "
                                     f"{host.name}: {error.text}") from None


async def program_vm(ctx, vm) -> None:
    """On VM start: its host gets its rule set. A refusal is recorded, not fatal, as upstream's."""
    member = prebuilt("sg.member", lambda: select(SecurityGroupVmMap.id).where(
        SecurityGroupVmMap.instance_id == bindparam("vm")).limit(1))
    if vm.host_id is None or core(ctx.db, member, {"vm": vm.id}).first() is None:
        return
    host = ctx.db.get(Host, vm.host_id)
    try:
        await program_one(ctx, vm, host)
    except ApiError as error:
        ctx.event("SG.PROGRAM", error.text, level="ERROR", resource_type="VirtualMachine",
                  resource_id=vm.uuid, account_id=vm.account_id, domain_id=vm.domain_id)


def join_groups(ctx, vm, owner: Account, networks: list, ids: list | None, names: list | None) -> None:
    """A VM in a network with the SecurityGroup service joins the groups named, else `default`."""
    if ids and names:
        raise InvalidParameter("securitygroupids and securitygroupnames parameters can't be specified "
                               "together")
    with_groups = [n for n in networks if "SecurityGroup" in services_of(ctx, n.network_offering_id)]
    if not with_groups:
        if ids or names:
            raise InvalidParameter("Can't create vm with security groups; security group feature is not "
                                   "enabled per zone")
        return
    groups = []
    for uuid in ids or ():
        group = ctx.db.scalars(select(SecurityGroup).where(SecurityGroup.uuid == uuid)).first()
        if group is None:
            raise InvalidParameter(f"Unable to find security group by id {uuid}")
        if group.account_id != owner.id:
            raise PermissionDenied(f"Security group {uuid} doesn't belong to the VM's owner "
                                   f"{owner.account_name}")
        groups.append(group)
    for name in names or ():
        group = ensure_default(ctx, owner) if name == DEFAULT else group_named(ctx, owner, name)
        if group is None:
            raise InvalidParameter(f"Unable to find security group by name {name}")
        groups.append(group)
    for group in list(dict.fromkeys(groups)) or [ensure_default(ctx, owner)]:
        ctx.db.add(SecurityGroupVmMap(security_group_id=group.id, instance_id=vm.id))


def vm_group_views(ctx, vm_ids: list[int]) -> dict[int, list[dict]]:
    """The `securitygroup` list of VM views, for a page of VMs in one query."""
    found: dict[int, list[dict]] = {vm_id: [] for vm_id in vm_ids}
    if not vm_ids:
        return found
    query = prebuilt("sg.of_vms", lambda: select(
        SecurityGroupVmMap.instance_id, SecurityGroup.uuid, SecurityGroup.name, SecurityGroup.description)
        .join(SecurityGroup, SecurityGroup.id == SecurityGroupVmMap.security_group_id)
        .where(SecurityGroupVmMap.instance_id.in_(bindparam("ids", expanding=True)))
        .order_by(SecurityGroup.id))
    for vm_id, uuid, name, description in core(ctx.db, query, {"ids": list(vm_ids)}):
        found[vm_id].append({"id": uuid, "name": name, "description": description})
    return found
