"""Affinity groups (host affinity / anti-affinity, which the allocator honours) and instance groups
(named sets of VMs, for the owner's bookkeeping only)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, select

from ..core.db import now
from ..core.errors import InvalidParameter
from ..core.listing import owner_filter, paged, paged_list
from ..core.params import LIST, STRING, UUID, Param
from ..core.registry import command
from ..core.responses import describe
from ..iam.models import Account, Domain
from ..iam.owners import finalize_owner
from . import vm_service as service
from .allocator import HOST_AFFINITY, HOST_ANTI_AFFINITY
from .models import AffinityGroup, AffinityGroupVm, InstanceGroup, InstanceGroupVm, VMInstance
from .vm_views import owners, view

EXPLICIT_DEDICATION = "ExplicitDedication"
TYPES = (HOST_ANTI_AFFINITY, HOST_AFFINITY)
OWNER_PARAMS = [
    Param("account", STRING, description="an account for the group. Must be used with domainId."),
    Param("domainid", UUID, entity=Domain, description="domainId of the account owning the group"),
    Param("projectid", UUID, description="create the group for the project"),
]


# ---- affinity groups ----------------------------------------------------------------------------

def group_types(ctx) -> tuple[str, ...]:
    admin = ctx.caller.is_root_admin or ctx.caller.is_system
    return TYPES + ((EXPLICIT_DEDICATION,) if admin else ())


def create_group(ctx, p) -> AffinityGroup:
    owner = finalize_owner(ctx, p.account, p.domainid)
    kind = next((t for t in group_types(ctx) if t.lower() == p.type.lower()), None)
    if kind is None:
        raise InvalidParameter(f"Unable to create affinity group, invalid affinity group type {p.type}. "
                               f"Valid values are {', '.join(group_types(ctx))}")
    taken = ctx.db.scalar(select(AffinityGroup.id).where(AffinityGroup.account_id == owner.id,
                                                         AffinityGroup.name == p.name,
                                                         AffinityGroup.removed.is_(None)))
    if taken is not None:
        raise InvalidParameter(f"Unable to create affinity group, a group with name {p.name} already exists.")
    group = AffinityGroup(name=p.name, type=kind, description=p.description, account_id=owner.id,
                          domain_id=owner.domain_id)
    ctx.db.add(group)
    ctx.db.flush()
    ctx.event("AG.CREATE", f"Affinity group {group.name} ({kind}) created", resource_type="AffinityGroup",
              resource_id=group.uuid, account_id=owner.id, domain_id=owner.domain_id)
    return group


def members(ctx, group_ids: list[int]) -> dict[int, list[str]]:
    found = defaultdict(list)
    if group_ids:
        rows = ctx.db.execute(select(AffinityGroupVm.affinity_group_id, VMInstance.uuid)
                              .join(VMInstance, VMInstance.id == AffinityGroupVm.instance_id)
                              .where(AffinityGroupVm.affinity_group_id.in_(group_ids),
                                     VMInstance.removed.is_(None)).order_by(AffinityGroupVm.id))
        for group_id, vm_uuid in rows:
            found[group_id].append(vm_uuid)
    return found


def group_views(ctx, groups: list[AffinityGroup]) -> list[dict]:
    _, owner = owners(ctx, groups)
    vms = members(ctx, [g.id for g in groups])
    return [{"id": g.uuid, "name": g.name, "type": g.type, "description": g.description, **owner(g),
             "virtualmachineIds": vms.get(g.id, [])} for g in groups]


@command("createAffinityGroup", isasync=True, create=create_group, response="affinitygroup",
         instance_type="AffinityGroup", params=[
             Param("name", STRING, required=True, description="name of the affinity group"),
             Param("type", STRING, required=True, description="Type of the affinity group from the available "
                                                              "affinity/anti-affinity group types"),
             Param("description", STRING, description="optional description of the affinity group"),
             *OWNER_PARAMS,
         ])
def create_affinity_group(ctx, p):
    """Creates an affinity/anti-affinity group"""
    return group_views(ctx, [ctx.created])[0]


def named_group(ctx, p) -> AffinityGroup:
    if p.id is not None:
        return p.id
    if not p.name:
        raise InvalidParameter("Either the affinity group id or name must be specified")
    owner = finalize_owner(ctx, p.account, p.domainid)
    group = ctx.db.scalars(select(AffinityGroup).where(AffinityGroup.account_id == owner.id,
                                                       AffinityGroup.name == p.name,
                                                       AffinityGroup.removed.is_(None))).first()
    if group is None:
        raise InvalidParameter(f"Unable to find affinity group by name {p.name}")
    return group


@command("deleteAffinityGroup", isasync=True, instance_type="AffinityGroup", params=[
    Param("id", UUID, entity=AffinityGroup, description="The ID of the affinity group. Mutually exclusive "
                                                        "with name parameter"),
    Param("name", STRING, description="The name of the affinity group. Mutually exclusive with ID parameter"),
    *OWNER_PARAMS,
])
def delete_affinity_group(ctx, p):
    """Deletes affinity group"""
    group = named_group(ctx, p)
    # As upstream: the group goes, and its VMs simply stop being members.
    ctx.db.execute(delete(AffinityGroupVm).where(AffinityGroupVm.affinity_group_id == group.id))
    group.removed = now()
    ctx.event("AG.DELETE", f"Affinity group {group.name} deleted", resource_type="AffinityGroup",
              resource_id=group.uuid, account_id=group.account_id, domain_id=group.domain_id)
    return {"success": True}


@command("listAffinityGroups", response="affinitygroup", listing="owned", params=[
    Param("id", UUID, entity=AffinityGroup, check_access=False, description="list the affinity group by the "
                                                                            "ID provided"),
    Param("name", STRING, description="lists affinity groups by name"),
    Param("type", STRING, description="lists affinity groups by type"),
    Param("virtualmachineid", UUID, entity=VMInstance, description="lists affinity groups by virtual "
                                                                   "machine ID"),
    Param("projectid", UUID, description="list objects by project"),
])
def list_affinity_groups(ctx, p):
    """Lists affinity groups"""
    query = owner_filter(ctx, p, select(AffinityGroup).where(AffinityGroup.removed.is_(None)), AffinityGroup)
    if p.id is not None:
        query = query.where(AffinityGroup.id == p.id.id)
    if p.name:
        query = query.where(AffinityGroup.name == p.name)
    if p.type:
        query = query.where(AffinityGroup.type == p.type)
    if p.virtualmachineid is not None:
        query = query.where(AffinityGroup.id.in_(select(AffinityGroupVm.affinity_group_id).where(
            AffinityGroupVm.instance_id == p.virtualmachineid.id)))
    result = paged(ctx, p, query, lambda g: g, keyword_columns=(AffinityGroup.name,),
                   order_by=AffinityGroup.id)
    result.items = group_views(ctx, result.items)
    return result


@command("listAffinityGroupTypes", response="affinityGroupType", listing="list", params=[])
def list_affinity_group_types(ctx, p):
    """Lists affinity group types available"""
    return paged_list(ctx, p, [{"type": t} for t in group_types(ctx)])


@command("updateVMAffinityGroup", isasync=True, response="virtualmachine", instance_type="VirtualMachine",
         params=[
    Param("id", UUID, entity=VMInstance, required=True, description="The ID of the virtual machine"),
    Param("affinitygroupids", LIST, of=UUID, entity=AffinityGroup, description="comma separated list of "
                                                                               "affinity groups id that are "
                                                                               "going to be applied to the "
                                                                               "virtual machine. Should be "
                                                                               "passed only when vm is in "
                                                                               "stopped state."),
    Param("affinitygroupnames", LIST, description="comma separated list of affinity groups names that are "
                                                  "going to be applied to the virtual machine. Should be "
                                                  "passed only when vm is in stopped state."),
])
def update_vm_affinity_group(ctx, p):
    """Updates the affinity/anti-affinity group associations of a virtual machine."""
    from .vm_deploy import affinity_groups

    vm = service.user_vm(p.id)
    if vm.state != service.STOPPED:
        raise InvalidParameter(f"Unable to update affinity groups of the virtual machine {vm.uuid} in state "
                               f"{vm.state}; make sure the virtual machine is stopped and not in an error "
                               "state before updating.")
    if p.affinitygroupids is None and p.affinitygroupnames is None:
        raise InvalidParameter("Either affinitygroupids or affinitygroupnames must be specified")
    owner = ctx.db.get(Account, vm.account_id)
    groups = affinity_groups(ctx, owner, p.affinitygroupids, p.affinitygroupnames)
    ctx.db.execute(delete(AffinityGroupVm).where(AffinityGroupVm.instance_id == vm.id))
    for group in groups:
        ctx.db.add(AffinityGroupVm(affinity_group_id=group.id, instance_id=vm.id))
    service.vm_event(ctx, "VM.AFFINITY.GROUP.UPDATE", vm, f"Affinity groups of VM {vm.name} set to "
                     f"{', '.join(g.name for g in groups) or 'none'}")
    ctx.db.flush()
    return view(ctx, vm)


describe("affinitygroup", {
    "id": "the ID of the affinity group",
    "name": "the name of the affinity group",
    "type": "the type of the affinity group",
    "description": "the description of the affinity group",
    "account": "the account owning the affinity group",
    "accountid": "the account id",
    "domainid": "the domain ID of the affinity group",
    "domain": "the domain name of the affinity group",
    "domainpath": "path of the Domain the affinity group belongs to",
    "virtualmachineIds": "virtual machine IDs associated with this affinity group",
})
describe("affinityGroupType", {
    "type": "the type of the affinity group",
})


# ---- instance groups ----------------------------------------------------------------------------

def instance_group_views(ctx, groups: list[InstanceGroup]) -> list[dict]:
    _, owner = owners(ctx, groups)
    return [{"id": g.uuid, "name": g.name, "created": g.created, **owner(g)} for g in groups]


def check_group_name_free(ctx, account_id: int, name: str, account_name: str) -> None:
    taken = ctx.db.scalar(select(InstanceGroup.id).where(InstanceGroup.account_id == account_id,
                                                         InstanceGroup.name == name,
                                                         InstanceGroup.removed.is_(None)))
    if taken is not None:
        raise InvalidParameter(f"Unable to create vm group, a group with name {name} already exists for "
                               f"account {account_name}")


@command("createInstanceGroup", response="instancegroup", params=[
    Param("name", STRING, required=True, description="the name of the instance group"),
    *OWNER_PARAMS,
])
def create_instance_group(ctx, p):
    """Creates a vm group"""
    owner = finalize_owner(ctx, p.account, p.domainid)
    check_group_name_free(ctx, owner.id, p.name, owner.account_name)
    group = InstanceGroup(name=p.name, account_id=owner.id, domain_id=owner.domain_id)
    ctx.db.add(group)
    ctx.db.flush()
    ctx.event("VMGROUP.CREATE", f"Instance group {group.name} created", resource_type="InstanceGroup",
              resource_id=group.uuid, account_id=owner.id, domain_id=owner.domain_id)
    return instance_group_views(ctx, [group])[0]


@command("updateInstanceGroup", response="instancegroup", params=[
    Param("id", UUID, entity=InstanceGroup, required=True, description="Instance group ID"),
    Param("name", STRING, description="new instance group name"),
])
def update_instance_group(ctx, p):
    """Updates a vm group"""
    group = p.id
    if p.name and p.name != group.name:
        account = ctx.db.get(Account, group.account_id)
        check_group_name_free(ctx, group.account_id, p.name, account.account_name)
        group.name = p.name
    ctx.event("VMGROUP.UPDATE", f"Instance group {group.name} updated", resource_type="InstanceGroup",
              resource_id=group.uuid, account_id=group.account_id, domain_id=group.domain_id)
    return instance_group_views(ctx, [group])[0]


@command("deleteInstanceGroup", params=[
    Param("id", UUID, entity=InstanceGroup, required=True, description="the ID of the instance group"),
])
def delete_instance_group(ctx, p):
    """Deletes a vm group"""
    group = p.id
    ctx.db.execute(delete(InstanceGroupVm).where(InstanceGroupVm.group_id == group.id))
    group.removed = now()
    ctx.event("VMGROUP.DELETE", f"Instance group {group.name} deleted", resource_type="InstanceGroup",
              resource_id=group.uuid, account_id=group.account_id, domain_id=group.domain_id)
    return {"success": True}


@command("listInstanceGroups", response="instancegroup", listing="owned", params=[
    Param("id", UUID, entity=InstanceGroup, check_access=False, description="list instance groups by ID"),
    Param("name", STRING, description="list instance groups by name"),
    Param("projectid", UUID, description="list objects by project"),
])
def list_instance_groups(ctx, p):
    """Lists vm groups"""
    query = owner_filter(ctx, p, select(InstanceGroup).where(InstanceGroup.removed.is_(None)), InstanceGroup)
    if p.id is not None:
        query = query.where(InstanceGroup.id == p.id.id)
    if p.name:
        query = query.where(InstanceGroup.name == p.name)
    result = paged(ctx, p, query, lambda g: g, keyword_columns=(InstanceGroup.name,),
                   order_by=InstanceGroup.id)
    result.items = instance_group_views(ctx, result.items)
    return result


describe("instancegroup", {
    "id": "the ID of the instance group",
    "name": "the name of the instance group",
    "created": "time and date the instance group was created",
    "account": "the account owning the instance group",
    "accountid": "the account id",
    "domainid": "the domain ID of the instance group",
    "domain": "the domain name of the instance group",
    "domainpath": "path of the Domain the instance group belongs to",
})
