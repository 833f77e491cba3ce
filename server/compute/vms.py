"""Virtual machine commands: deploy, the power states, destroy / recover / expunge, listVirtualMachines (the
other changes to a VM are in vm_changes.py). Thin: parse, check the caller, call vm_service, render with
vm_views."""

from __future__ import annotations

import importlib

from sqlalchemy import select

from ..core.errors import ApiError, InvalidParameter
from ..core.listing import owner_filter
from ..core.params import BOOLEAN, LIST, LONG, MAP, STRING, UUID, Param
from ..core.registry import command
from ..iam.models import Domain
from ..infra.models import Cluster, DataCenter, Host, HostPod
from ..storage.models import StoragePool, VMTemplate, Volume
from . import peers
from . import vm_service as service
from .models import USER_VM, AffinityGroup, DiskOffering, ServiceOffering, UserData, VMInstance
from .vm_deploy import allocate
from .vm_views import page, view, views

VM_ID = Param("id", UUID, entity=VMInstance, required=True, description="The ID of the virtual machine")
VM_ID_AS_VIRTUALMACHINEID = Param("virtualmachineid", UUID, entity=VMInstance, required=True,
                                  description="The ID of the virtual machine")
VM = dict(response="virtualmachine", instance_type="VirtualMachine")
USERDATA_LENGTH = 1048576


def the_vm(p, key: str = "id") -> VMInstance:
    return service.user_vm(p.get(key))


def is_admin(ctx) -> bool:
    return ctx.caller.is_root_admin or ctx.caller.is_system


# ---- deploy -------------------------------------------------------------------------------------

DEPLOY_PARAMS = [
    Param("zoneid", UUID, entity=DataCenter, required=True, description="availability zone for the virtual "
                                                                        "machine"),
    Param("serviceofferingid", UUID, entity=ServiceOffering, required=True,
          description="the ID of the service offering for the virtual machine"),
    Param("templateid", UUID, entity=VMTemplate, required=True, check_access=False,
          description="the ID of the template for the virtual machine"),
    Param("diskofferingid", UUID, entity=DiskOffering, description="the ID of the disk offering for the "
                                                                   "virtual machine. If the template is of "
                                                                   "ISO format, the diskOfferingId is for "
                                                                   "the root disk volume."),
    Param("size", LONG, description="the arbitrary size for the DATADISK volume. Mutually exclusive with "
                                    "diskOfferingId"),
    Param("rootdisksize", LONG, description="Optional field to resize root disk on deploy. Value is in GB."),
    Param("hypervisor", STRING, description="the hypervisor on which to deploy the virtual machine."),
    Param("networkids", LIST, of=UUID, entity="Network", check_access=False,
          description="list of network ids used by virtual machine. Can't be specified with ipToNetworkList"),
    Param("ipaddress", STRING, description="the ip address for default vm's network"),
    Param("ip6address", STRING, description="the ipv6 address for default vm's network"),
    Param("iptonetworklist", MAP, description="ip to network mapping. Can't be specified with networkIds "
                                              "parameter. Example: iptonetworklist[0].ip=10.10.10.11&"
                                              "iptonetworklist[0].networkid=uuid"),
    Param("keypair", STRING, description="name of the ssh key pair used to login to the virtual machine"),
    Param("keypairs", LIST, since="4.17", description="names of the ssh key pairs used to login to the "
                                                      "virtual machine"),
    Param("userdata", STRING, length=USERDATA_LENGTH, description="an optional binary data that can be sent "
                                                                  "to the virtual machine upon a successful "
                                                                  "deployment. This binary data must be "
                                                                  "base64 encoded."),
    Param("userdataid", UUID, entity=UserData, since="4.18", description="the ID of the Userdata"),
    Param("userdatadetails", MAP, since="4.18", description="used to specify the parameters values for the "
                                                            "variables in userdata."),
    Param("name", STRING, description="host name for the virtual machine"),
    Param("displayname", STRING, description="an optional user generated name for the virtual machine"),
    Param("group", STRING, description="an optional group for the virtual machine"),
    Param("affinitygroupids", LIST, of=UUID, entity=AffinityGroup, description="comma separated list of "
          "affinity groups id that are going to be applied to the virtual machine."),
    Param("affinitygroupnames", LIST, description="comma separated list of affinity groups names that are "
                                                  "going to be applied to the virtual machine."),
    Param("securitygroupids", LIST, description="comma separated list of security groups id that going to be "
                                                "applied to the virtual machine."),
    Param("securitygroupnames", LIST, description="comma separated list of security groups names that going "
                                                  "to be applied to the virtual machine."),
    Param("hostid", UUID, entity=Host, description="destination Host ID to deploy the VM to - parameter "
                                                   "available for root admin only"),
    Param("podid", UUID, entity=HostPod, since="4.13", description="destination Pod ID to deploy the VM to - "
                                                                   "parameter available for root admin only"),
    Param("clusterid", UUID, entity=Cluster, since="4.13", description="destination Cluster ID to deploy "
                                                                       "the VM to - parameter available for "
                                                                       "root admin only"),
    Param("startvm", BOOLEAN, since="3.0.1", description="true if start vm after creating; defaulted to true "
                                                         "if not specified"),
    Param("account", STRING, description="an optional account for the virtual machine. Must be used with "
                                         "domainId."),
    Param("domainid", UUID, entity=Domain, description="an optional domainId for the virtual machine. If "
                                                       "the account parameter is used, domainId must also "
                                                       "be used."),
    Param("projectid", UUID, description="Deploy vm for the project"),
    Param("details", MAP, since="4.3", description="used to specify the custom parameters. 'extraconfig' is "
                                                   "not allowed to be passed in details"),
    Param("dynamicscalingenabled", BOOLEAN, since="4.16", description="true if virtual machine needs to be "
                                                                      "dynamically scalable"),
    Param("displayvm", BOOLEAN, since="4.2", description="an optional field, whether to the display the vm "
                                                         "to the end user or not."),
    Param("bootmode", STRING, since="4.14.0.0", description="Boot Mode [Legacy] or [Secure] Applicable when "
                                                            "Boot Type Selected is UEFI, otherwise Legacy "
                                                            "only for BIOS."),
    Param("boottype", STRING, since="4.14.0.0", description="Guest VM Boot option either custom[UEFI] or "
                                                            "default boot [BIOS]."),
    Param("keyboard", STRING, description="an optional keyboard device type for the virtual machine."),
    Param("macaddress", STRING, description="the mac address for default vm's network"),
    Param("deploymentplanner", STRING, description="Deployment planner to use for vm allocation. Available "
                                                   "to ROOT admin only"),
    Param("copyimagetags", BOOLEAN, since="4.13", description="if true the image tags (if any) will be "
                                                              "copied to the VM, default value is false"),
]


def allocate_vm(ctx, p) -> VMInstance:
    return allocate(ctx, p)


@command("deployVirtualMachine", isasync=True, create=allocate_vm, **VM, params=DEPLOY_PARAMS,
         description="Creates and automatically starts a virtual machine based on a service offering, disk "
                     "offering, and template.")
async def deploy_virtual_machine(ctx, p):
    """The job: start the VM the request allocated (unless startvm=false)."""
    vm = ctx.created
    await service.deploy(ctx, vm, p)
    return view(ctx, vm, with_password=True)


# ---- power states -------------------------------------------------------------------------------

@command("startVirtualMachine", isasync=True, **VM, params=[
    VM_ID,
    Param("hostid", UUID, entity=Host, description="destination Host ID to deploy the VM to - parameter "
                                                   "available for root admin only"),
    Param("podid", UUID, entity=HostPod, description="destination Pod ID to deploy the VM to - parameter "
                                                     "available for root admin only"),
    Param("clusterid", UUID, entity=Cluster, description="destination Cluster ID to deploy the VM to - "
                                                         "parameter available for root admin only"),
    Param("considerlasthost", BOOLEAN, since="4.18", description="True by default, CloudStack will firstly "
                                                                 "try to start the VM on the last host "
                                                                 "where it run on before stopping"),
    Param("deploymentplanner", STRING, description="Deployment planner to use for vm allocation. Available "
                                                   "to ROOT admin only"),
])
async def start_virtual_machine(ctx, p):
    """Starts a virtual machine."""
    vm = the_vm(p)
    if vm.state == service.RUNNING:
        raise InvalidParameter(f"The virtual machine {vm.uuid} ({vm.display_name}) is already running")
    admin = is_admin(ctx)
    await service.start(ctx, vm, last_host=p.considerlasthost is not False, host=p.hostid if admin else None,
                        pod_id=p.podid.id if admin and p.podid else None,
                        cluster_id=p.clusterid.id if admin and p.clusterid else None)
    return view(ctx, vm)


@command("stopVirtualMachine", isasync=True, **VM, params=[
    VM_ID, Param("forced", BOOLEAN, description="Force stop the VM (vm is marked as Stopped even when "
                                                "command fails to be send to the backend, otherwise a force "
                                                "poweroff is attempted). The caller knows the VM is "
                                                "stopped."),
])
async def stop_virtual_machine(ctx, p):
    """Stops a virtual machine."""
    vm = the_vm(p)
    if p.forced and not (ctx.caller.is_admin or service.setting_or(ctx, "allow.user.force.stop.vm", True)):
        raise ApiError("Parameter forced can be passed by Admin only or when allow.user.force.stop.vm is "
                       "true",
                       errorcode=531, cserrorcode=4365)
    if vm.state not in (service.RUNNING, service.STOPPED) and not p.forced:
        service.require_state(vm, service.RUNNING, doing="stop")
    await service.stop(ctx, vm, forced=bool(p.forced))
    return view(ctx, vm)


@command("rebootVirtualMachine", isasync=True, **VM, params=[
    VM_ID, Param("forced", BOOLEAN, since="4.16.0", description="Force reboot the VM (VM is Stopped and "
                                                                "then Started)"),
    Param("bootintosetup", BOOLEAN, since="4.15.0.0", description="Boot into hardware setup menu or not"),
])
async def reboot_virtual_machine(ctx, p):
    """Reboots a virtual machine."""
    vm = the_vm(p)
    if p.forced:
        await service.stop(ctx, vm, forced=True)
        await service.start(ctx, vm)
    else:
        await service.reboot(ctx, vm)
    return view(ctx, vm)


@command("destroyVirtualMachine", isasync=True, **VM, params=[
    VM_ID,
    Param("expunge", BOOLEAN, since="4.2.1", description="If true is passed, the vm is expunged immediately. "
                                                         "False by default."),
    Param("volumeids", LIST, of=UUID, entity=Volume, since="4.12.0",
          description="Comma separated list of UUIDs for volumes that will be deleted"),
])
async def destroy_virtual_machine(ctx, p):
    """Destroys a virtual machine."""
    vm = the_vm(p)
    if vm.removed is not None or vm.state == service.EXPUNGING:
        raise InvalidParameter(f"Unable to find a virtual machine with specified vmId {vm.uuid}")
    await service.destroy(ctx, vm, expunge=bool(p.expunge), data=p.volumeids)
    return view(ctx, vm)


def may_recover_or_expunge(ctx, what: str) -> None:
    if ctx.caller.is_admin or ctx.caller.is_system or service.setting_or(ctx, "allow.user.expunge.recover.vm",
                                                                          False):
        return
    raise ApiError(f"Parameter {what} can be passed by Admin only. Or when the allow.user.expunge.recover.vm "
                   "key is set.", errorcode=531, cserrorcode=4365)


@command("recoverVirtualMachine", **VM, params=[VM_ID])
def recover_virtual_machine(ctx, p):
    """Recovers a virtual machine."""
    may_recover_or_expunge(ctx, "recover")
    return view(ctx, service.recover(ctx, the_vm(p)))


@command("expungeVirtualMachine", isasync=True, instance_type="VirtualMachine", params=[VM_ID])
async def expunge_virtual_machine(ctx, p):
    """Expunge a virtual Machine"""
    may_recover_or_expunge(ctx, "expunge")
    vm = the_vm(p)
    if vm.state not in (service.DESTROYED, service.ERROR):
        raise InvalidParameter(f"Please destroy vm with id {vm.uuid} first")
    await service.expunge_vm(ctx, vm)
    return {"success": True}


# ---- listing ------------------------------------------------------------------------------------

LIST_PARAMS = [
    Param("id", UUID, entity=VMInstance, check_access=False, description="the ID of the virtual machine"),
    Param("ids", LIST, of=UUID, entity=VMInstance, check_access=False, since="4.4",
          description="the IDs of the virtual machines, mutually exclusive with id"),
    Param("name", STRING, description="name of the virtual machine (a substring match is made against the "
                                      "parameter value, data for all matching VMs will be returned)"),
    Param("state", STRING, description="state of the virtual machine. Possible values are: Running, "
                                       "Stopped, Present, Destroyed, Expunged. Present is used for the "
                                       "state equal not destroyed."),
    Param("zoneid", UUID, entity=DataCenter, description="the availability zone ID"),
    Param("templateid", UUID, entity=VMTemplate, check_access=False, description="list vms by template"),
    Param("isoid", UUID, entity=VMTemplate, check_access=False, description="list vms by iso"),
    Param("serviceofferingid", UUID, entity=ServiceOffering, description="list by the service offering"),
    Param("hostid", UUID, entity=Host, description="the host ID"),
    Param("podid", UUID, entity=HostPod, description="the pod ID"),
    Param("clusterid", UUID, entity=Cluster, description="the cluster ID"),
    Param("storageid", UUID, entity=StoragePool, description="the storage ID where vm's volumes belong to"),
    Param("networkid", UUID, entity="Network", check_access=False, description="list by network id"),
    Param("vpcid", UUID, check_access=False, description="list vms by vpc"),
    Param("groupid", UUID, entity="InstanceGroup", description="the group ID"),
    Param("affinitygroupid", UUID, entity=AffinityGroup, description="list vms by affinity group"),
    Param("keypair", STRING, description="list vms by ssh keypair name"),
    Param("hypervisor", STRING, description="the target hypervisor for the template"),
    Param("haenable", BOOLEAN, description="list by the High Availability offering; true if filtering VMs "
                                           "with HA enabled; false for VMs with HA disabled"),
    Param("userid", UUID, entity="User", check_access=False, description="the user ID that created the VM "
                                                                         "and is under the account that "
                                                                         "owns the VM"),
    Param("displayvm", BOOLEAN, description="list resources by display flag; only ROOT admin is eligible to "
                                            "pass this parameter"),
    Param("details", LIST, description="comma separated list of vm details requested, value can be a list "
                                       "of [all, group, nics, stats, secgrp, tmpl, servoff, diskoff, "
                                       "backoff, iso, volume, min, affgrp]. If no parameter is passed in, "
                                       "the details will be defaulted to all"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
    Param("forvirtualnetwork", BOOLEAN, description="list by network type; true if need to list vms using "
                                                    "Virtual Network, false otherwise"),
    Param("projectid", UUID, description="list objects by project"),
    Param("accumulate", BOOLEAN, description="Accumulates the vm metrics data instead of returning only the "
                                             "most recent data collected."),
]


def list_query(ctx, p):
    from .models import AffinityGroupVm, InstanceGroupVm

    query = owner_filter(ctx, p, select(VMInstance).where(VMInstance.type == USER_VM,
                                                          VMInstance.removed.is_(None)), VMInstance)
    if p.id is not None:
        query = query.where(VMInstance.id == p.id.id)
    if p.ids:
        query = query.where(VMInstance.id.in_([vm.id for vm in p.ids]))
    if p.name:
        query = query.where(VMInstance.name.like(f"%{p.name}%") | VMInstance.display_name.like(f"%{p.name}%"))
    query = state_filter(ctx, p, query)
    for key, column in (("zoneid", VMInstance.zone_id), ("templateid", VMInstance.template_id),
                        ("isoid", VMInstance.iso_id), ("serviceofferingid", VMInstance.service_offering_id),
                        ("hostid", VMInstance.host_id), ("podid", VMInstance.pod_id)):
        if p.get(key) is not None:
            query = query.where(column == p.get(key).id)
    if p.clusterid is not None:
        query = query.where(VMInstance.host_id.in_(select(Host.id).where(Host.cluster_id == p.clusterid.id)))
    if p.storageid is not None:
        query = query.where(VMInstance.id.in_(select(Volume.instance_id).where(
            Volume.pool_id == p.storageid.id, Volume.removed.is_(None))))
    if p.groupid is not None:
        query = query.where(VMInstance.id.in_(select(InstanceGroupVm.instance_id).where(
            InstanceGroupVm.group_id == p.groupid.id)))
    if p.affinitygroupid is not None:
        query = query.where(VMInstance.id.in_(select(AffinityGroupVm.instance_id).where(
            AffinityGroupVm.affinity_group_id == p.affinitygroupid.id)))
    return network_filters(p, other_filters(ctx, p, query))


def state_filter(ctx, p, query):
    if p.state:
        if p.state.lower() == "present":
            query = query.where(VMInstance.state.not_in((service.DESTROYED, service.EXPUNGING)))
        else:
            query = query.where(VMInstance.state == p.state[:1].upper() + p.state[1:])
    caller = ctx.caller
    if not caller.is_admin and not service.setting_or(ctx, "allow.user.view.destroyed.vm", False):
        query = query.where(VMInstance.state.not_in((service.DESTROYED, service.EXPUNGING)))
    if not caller.is_admin:
        query = query.where(VMInstance.display_vm.is_(True))
    elif p.displayvm is not None:
        query = query.where(VMInstance.display_vm.is_(p.displayvm))
    return query


def other_filters(ctx, p, query):
    if p.keypair:
        query = query.where((VMInstance.keypairs == p.keypair) | VMInstance.keypairs.like(f"{p.keypair},%")
                            | VMInstance.keypairs.like(f"%,{p.keypair}") | VMInstance.keypairs.like(
                                f"%,{p.keypair},%"))
    if p.hypervisor:
        query = query.where(VMInstance.hypervisor_type == p.hypervisor)
    if p.haenable is not None:
        query = query.where(VMInstance.ha_enabled.is_(p.haenable))
    if p.userid is not None:
        query = query.where(VMInstance.account_id == p.userid.account_id)
    return peers.tag_filter(ctx, query, VMInstance, "UserVm", p.tags)


def network_filters(p, query):
    if p.networkid is None and p.vpcid is None:
        return query
    from ..network.models import Network, Nic

    nics = select(Nic.instance_id).where(Nic.removed.is_(None))
    if p.networkid is not None:
        nics = nics.where(Nic.network_id == p.networkid.id)
    if p.vpcid is not None:
        # VPCs are the network domain's rows: matched by uuid through a subquery when their model exists.
        vpc_model = getattr(importlib.import_module("sandstack.network.models"), "Vpc", None)
        vpc_ids = select(vpc_model.id).where(vpc_model.uuid == p.vpcid) if vpc_model is not None else [-1]
        nics = nics.join(Network, Network.id == Nic.network_id).where(Network.vpc_id.in_(vpc_ids))
    return query.where(VMInstance.id.in_(nics))


@command("listVirtualMachines", response="virtualmachine", listing="owned", params=LIST_PARAMS)
def list_virtual_machines(ctx, p):
    """List the virtual machines owned by the account."""
    if p.id is not None and p.ids:
        raise InvalidParameter("id and ids are mutually exclusive")
    result = page(ctx, p, list_query(ctx, p), order_by=VMInstance.id,
                  keyword_columns=(VMInstance.name, VMInstance.display_name, VMInstance.state))
    result.items = views(ctx, result.items)
    return result
