"""Virtual router commands: list, start, stop, reboot, destroy, change service offering."""

from sqlalchemy import exists, select

from ..compute.models import ROUTER, ServiceOffering, VMInstance
from ..core.errors import InvalidParameter
from ..core.listing import owner_filter, paged
from ..core.params import BOOLEAN, STRING, UUID, Param
from ..core.registry import ADMINS, command
from ..infra.models import Cluster, DataCenter, Host, HostPod
from . import guest
from . import network_views as views
from . import virtual_router as vr
from .models import Network, Nic

ID = Param("id", UUID, entity=VMInstance, required=True, description="the ID of the router")
OWNER_PARAMS = ("account", "domainid", "listall", "isrecursive")


def router_row(vm: VMInstance) -> VMInstance:
    if vm.type != ROUTER or vm.removed is not None:
        raise InvalidParameter(f"Unable to find router by id {vm.uuid}")
    return vm


def require_state(router: VMInstance, *states: str) -> None:
    if router.state not in states:
        raise InvalidParameter(f"Router {router.name} is {router.state}; the operation needs it "
                               f"{' or '.join(states)}")


@command("listRouters", response="router", roles=ADMINS, listing="owned", params=[
    Param("id", UUID, entity=VMInstance, check_access=False, description="the ID of the disk router"),
    Param("name", STRING, description="the name of the router"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID of the router"),
    Param("podid", UUID, entity=HostPod, description="the Pod ID of the router"),
    Param("clusterid", UUID, entity=Cluster, description="the cluster ID of the router"),
    Param("hostid", UUID, entity=Host, description="the host ID of the router"),
    Param("networkid", UUID, entity=Network, check_access=False, description="list by network id"),
    Param("vpcid", STRING, description="List networks by VPC"),
    Param("state", STRING, description="the state of the router"),
    Param("forvpc", BOOLEAN, description="if true is passed for this parameter, list only VPC routers"),
    Param("version", STRING, description="list virtual router elements by version"),
    Param("healthchecksfailed", BOOLEAN, description="if this parameter is passed, list only routers by "
                                                     "health check results"),
    Param("fetchhealthcheckresults", BOOLEAN, description="if true is passed for this parameter, also fetch "
                                                          "last executed health check results for the "
                                                          "router. Default is false"),
    Param("projectid", STRING, description="list objects by project"),
])
def list_routers(ctx, p):
    """List routers."""
    query = select(VMInstance).where(VMInstance.type == ROUTER, VMInstance.removed.is_(None))
    if p.id is not None:
        query = query.where(VMInstance.id == p.id.id)
    if p.id is None or any(p.get(k) for k in OWNER_PARAMS):
        query = owner_filter(ctx, p, query, VMInstance)
    for row, column in ((p.zoneid, VMInstance.zone_id), (p.podid, VMInstance.pod_id),
                        (p.hostid, VMInstance.host_id)):
        if row is not None:
            query = query.where(column == row.id)
    if p.clusterid is not None:
        query = query.where(VMInstance.host_id.in_(select(Host.id).where(Host.cluster_id == p.clusterid.id)))
    if p.name:
        query = query.where(VMInstance.name == p.name)
    if p.state:
        query = query.where(VMInstance.state == p.state)
    if p.networkid is not None:
        query = query.where(exists().where(Nic.instance_id == VMInstance.id,
                                           Nic.network_id == p.networkid.id))
    if p.forvpc or p.vpcid:
        query = query.where(VMInstance.id.is_(None))  # VPC routers don't exist yet
    if p.version and p.version != views.VERSION:
        query = query.where(VMInstance.id.is_(None))
    if p.healthchecksfailed:
        query = query.where(VMInstance.id.is_(None))
    page = paged(ctx, p, query, lambda vm: vm, keyword_columns=(VMInstance.name,), order_by=VMInstance.id)
    page.items = views.routers(ctx, page.items)
    return page


@command("startRouter", isasync=True, response="router", roles=ADMINS, instance_type="DomainRouter",
         params=[ID])
async def start_router(ctx, p):
    """Starts a router."""
    router = router_row(p.id)
    require_state(router, "Stopped")
    network = vr.guest_network_of(ctx, router)
    if network is not None and network.state not in ("Implemented", "Setup"):
        # Its network gave back its VNET and source NAT address: implementing it starts the router.
        ctx.commit()
        await guest.implement(ctx, network)
        ctx.db.refresh(router)
    else:
        await vr.start(ctx, router)
    return views.router(ctx, router)


@command("stopRouter", isasync=True, response="router", roles=ADMINS, instance_type="DomainRouter", params=[
    ID, Param("forced", BOOLEAN, description="Force stop the VM. The caller knows the VM is stopped."),
])
async def stop_router(ctx, p):
    """Stops a router."""
    router = router_row(p.id)
    require_state(router, "Running")
    await vr.stop(ctx, router, bool(p.forced))
    return views.router(ctx, router)


@command("rebootRouter", isasync=True, response="router", roles=ADMINS, instance_type="DomainRouter", params=[
    ID, Param("forced", BOOLEAN, description="Force reboot the router (Router is force Stopped and then "
                                             "Started)"),
])
async def reboot_router(ctx, p):
    """Starts a router."""
    router = router_row(p.id)
    require_state(router, "Running")
    if p.forced:
        await vr.stop(ctx, router, forced=True)
        ctx.commit()
        await vr.start(ctx, router)
    else:
        await vr.reboot(ctx, router)
    return views.router(ctx, router)


@command("destroyRouter", isasync=True, response="router", roles=ADMINS, instance_type="DomainRouter",
         params=[ID])
async def destroy_router(ctx, p):
    """Destroys a router."""
    router = router_row(p.id)
    answer_nics = views.router(ctx, router)
    await vr.destroy(ctx, router)
    answer = views.router(ctx, router)
    answer["nic"] = answer_nics["nic"]
    return answer


@command("changeServiceForRouter", response="router", roles=ADMINS, params=[
    ID, Param("serviceofferingid", UUID, entity=ServiceOffering, required=True,
              description="the service offering ID to apply to the domain router"),
])
def change_service_for_router(ctx, p):
    """Upgrades domain router to a new service offering"""
    router = router_row(p.id)
    offering = p.serviceofferingid
    if router.state != "Stopped":
        raise InvalidParameter(f"Unable to upgrade router {router.name} in state {router.state}; make sure "
                               "the router is stopped")
    if not offering.is_system or (offering.system_vm_type or "").lower() != "domainrouter" \
            or offering.removed is not None:
        raise InvalidParameter(f"Service offering {offering.name} is not a system offering for virtual "
                               "routers")
    if not offering.cpu or not offering.speed or not offering.ram_size:
        raise InvalidParameter(f"Service offering {offering.name} has no fixed CPU and memory")
    router.service_offering_id = offering.id
    router.cpus, router.speed, router.ram = offering.cpu, offering.speed, offering.ram_size * 1024**2
    vr.router_event(ctx, router, "UPGRADE", f"Virtual router {router.name} changed to service offering "
                                            f"{offering.name}")
    return views.router(ctx, router)
