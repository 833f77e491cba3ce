"""Service (compute) offerings, and the default offerings a fresh cloud has. Disk offerings are declared in
compute/disk_offerings.py, imported below.

Like upstream, every service offering owns a hidden "compute-only" disk offering that carries its root
disk's storage tags, provisioning type, IOPS and rate limits (unless an existing disk offering is named).
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.db import now
from ..core.errors import InvalidParameter, ResourceInUse
from ..core.listing import subtree_ids
from ..core.params import BOOLEAN, INTEGER, LIST, LONG, MAP, STRING, UUID, Param, map_to_dict
from ..core.registry import ADMIN, DOMAIN_ADMIN, command
from ..iam.models import Domain
from ..infra.models import DataCenter
from . import offering_rules as rules
from .models import (
    CONSOLE_PROXY,
    INTERNAL_LB_VM,
    ROUTER,
    SECONDARY_STORAGE_VM,
    DiskOffering,
    ServiceOffering,
    VMInstance,
)
from .offering_models import ServiceOfferingDetail
from .offering_views import GIB, service_offering, service_offerings

OFFERING_ADMINS = frozenset({ADMIN, DOMAIN_ADMIN})  # upstream lets domain admins manage their domain's
MAX_INT = 2**31 - 1
SYSTEM_VM_TYPES = {"domainrouter": ROUTER, "consoleproxy": CONSOLE_PROXY,
                   "secondarystoragevm": SECONDARY_STORAGE_VM, "internalloadbalancervm": INTERNAL_LB_VM}
GONE_STATES = ("Expunging", "Destroyed", "Expunged")

# ---- the offerings a fresh cloud has (spec/ecosystem-defaults.md §3) -----------------------------

DEFAULT_SERVICE_OFFERINGS = (
    # (name, display text, cpus, MHz, MiB, system VM type or None)
    ("Small Instance", "Small Instance", 1, 500, 512, None),
    ("Medium Instance", "Medium Instance", 1, 1000, 1024, None),
    ("System Offering For Software Router", "System Offering For Software Router", 1, 500, 256,
     "domainrouter"),
    ("System Offering For Console Proxy", "System Offering For Console Proxy", 1, 500, 1024, "consoleproxy"),
    ("System Offering For Secondary Storage VM", "System Offering For Secondary Storage VM", 1, 500, 512,
     "secondarystoragevm"),
    ("System Offering For Internal LB VM", "System Offering For Internal LB VM", 1, 256, 256,
     "internalloadbalancervm"),
)
DEFAULT_DISK_OFFERINGS = (
    ("Small", "Small Disk, 5 GB", 5),
    ("Medium", "Medium Disk, 20 GB", 20),
    ("Large", "Large Disk, 100 GB", 100),
    ("Custom", "Custom Disk", None),  # the size is chosen when the volume is created
)


def seed_offerings(db: Session) -> None:
    """Create the default offerings once. Idempotent, and a default an operator deleted stays deleted
    (removed rows count as present), as upstream seeds them only on first start."""
    for name, text, cpus, speed, ram, vm_type in DEFAULT_SERVICE_OFFERINGS:
        known = select(ServiceOffering.id).where(ServiceOffering.name == name,
                                                 ServiceOffering.is_system.is_(vm_type is not None))
        if db.scalar(known.limit(1)) is not None:
            continue
        disk = DiskOffering(name=name, display_text=text, compute_only=True, is_system=vm_type is not None)
        db.add(disk)
        db.flush()
        db.add(ServiceOffering(name=name, display_text=text, cpu=cpus, speed=speed, ram_size=ram,
                               is_system=vm_type is not None, system_vm_type=vm_type,
                               is_default=vm_type is not None, disk_offering_id=disk.id,
                               limit_cpu_use=False, ha_enabled=False))
    for name, text, size_gb in DEFAULT_DISK_OFFERINGS:
        known = select(DiskOffering.id).where(DiskOffering.name == name, DiskOffering.compute_only.is_(False))
        if db.scalar(known.limit(1)) is None:
            db.add(DiskOffering(name=name, display_text=text, disk_size=(size_gb or 0) * GIB,
                                customized=size_gb is None))
    db.flush()


# ---- creation -----------------------------------------------------------------------------------

def custom_sizes(p, name: str) -> bool:
    """Check the CPU/memory parameters; answer whether the offering is customized (sizes at deploy)."""
    customized = p.customized if p.customized is not None else (p.cpunumber is None or p.memory is None)
    if customized:
        if p.cpunumber is not None or p.memory is not None:
            raise InvalidParameter("For creating a custom compute offering cpu and memory all should be null")
        check_bounds(p, name)
        return True
    if p.cpunumber is None or not 0 < p.cpunumber <= MAX_INT:
        raise InvalidParameter(f"Failed to create service offering {name}: specify the cpu number value "
                               f"between 1 and {MAX_INT}")
    if p.cpuspeed is None or p.cpuspeed < 0:
        raise InvalidParameter(f"Failed to create service offering {name}: specify the cpu speed value "
                               f"between 0 and {MAX_INT}")
    if p.memory is None or p.memory < 32:
        raise InvalidParameter(f"Failed to create service offering {name}: specify the memory value between "
                               f"32 and {MAX_INT} MB")
    return False


def check_bounds(p, name: str) -> None:
    """A constrained custom offering names all of min/max CPU, min/max memory and the speed, or none."""
    bounds = (p.mincpunumber, p.maxcpunumber, p.minmemory, p.maxmemory, p.cpuspeed)
    if all(value is None for value in bounds):
        return
    if any(value is None for value in bounds):
        raise InvalidParameter("For creating a custom compute offering min/max cpu and min/max memory/cpu "
                               "speed should all be null or all specified")
    if p.cpuspeed < 0:
        raise InvalidParameter(f"Failed to create service offering {name}: specify the cpu speed value "
                               f"between 1 and {MAX_INT}")
    if p.mincpunumber <= 0 or p.maxcpunumber <= 0:
        raise InvalidParameter(f"Failed to create service offering {name}: specify the minimum or minimum "
                               f"cpu number value between 1 and {MAX_INT}")
    if p.minmemory < 32:
        raise InvalidParameter(f"Failed to create service offering {name}: specify the memory value between "
                               f"32 and {MAX_INT} MB")
    if p.mincpunumber > p.maxcpunumber or p.minmemory > p.maxmemory:
        raise InvalidParameter(f"Failed to create service offering {name}: the minimum cpu number and memory "
                               "must not exceed the maximum ones")


def system_vm_type(p) -> str | None:
    """The systemvmtype of a system offering (domainrouter by default), None for a user offering."""
    if not p.issystem:
        if p.systemvmtype:
            raise InvalidParameter("systemvmtype can be specified only for system offerings (issystem=true)")
        return None
    vm_type = (p.systemvmtype or "domainrouter").lower()
    if vm_type not in SYSTEM_VM_TYPES:
        raise InvalidParameter(f"Invalid systemVmType. Supported types are: {ROUTER}, {CONSOLE_PROXY}, "
                               f"{SECONDARY_STORAGE_VM}, {INTERNAL_LB_VM}")
    if p.customizediops is not None:
        raise InvalidParameter("Customized IOPS is not a valid parameter for a system VM.")
    return vm_type


def check_extras(ctx, p, name: str, vm_type: str | None, store: str) -> DiskOffering | None:
    """Network rate, planner, HA on local storage, root disk size, the named disk offering."""
    if p.networkrate is not None:
        if vm_type not in (None, "domainrouter"):
            raise InvalidParameter('Network rate can be specified only for non-System offering and system '
                                   'offerings having "domainrouter" systemvmtype')
        if p.networkrate < 0:
            raise InvalidParameter(f"Failed to create service offering {name}: specify the network rate "
                                   "value more than 0")
    if p.deploymentplanner and p.deploymentplanner not in rules.PLANNERS:
        raise InvalidParameter("Invalid name for Deployment Planner specified, please use "
                               "listDeploymentPlanners to get the valid set")
    if store == "local" and p.offerha:
        raise InvalidParameter("HA offering with local storage is not supported. ")
    if p.rootdisksize is not None and p.rootdisksize <= 0:
        raise InvalidParameter("The Root disk size is of 0 GB; specify a positive size in GB")
    disk = p.diskofferingid
    if disk is not None and disk.compute_only:
        raise InvalidParameter("Please specify a valid disk offering.")
    return disk


def compute_only_disk(ctx, p, name: str, text: str, store: str, provisioning: str,
                      vm_type: str | None) -> DiskOffering:
    if p.miniops is not None and p.maxiops is not None and p.miniops > p.maxiops:
        raise InvalidParameter("The min IOPS must be less than or equal to the max IOPS.")
    disk = DiskOffering(
        name=name, display_text=text, disk_size=(p.rootdisksize or 0) * GIB, compute_only=True,
        customized_iops=bool(p.customizediops), min_iops=p.miniops, max_iops=p.maxiops,
        bytes_read_rate=p.bytesreadrate, bytes_write_rate=p.byteswriterate, iops_read_rate=p.iopsreadrate,
        iops_write_rate=p.iopswriterate, tags=p.tags, storage_type=store, provisioning_type=provisioning,
        encrypt=bool(p.encryptroot), is_system=vm_type is not None,
        domain_ids=rules.to_csv(p.domainid), zone_ids=rules.to_csv(p.zoneid))
    ctx.db.add(disk)
    ctx.db.flush()
    return disk


def create(ctx, p) -> ServiceOffering:
    name = p.name
    text = p.displaytext or name  # upstream defaults the display text to the name
    customized = custom_sizes(p, name)
    vm_type = system_vm_type(p)
    store = rules.storage_type(p.storagetype)
    provisioning = rules.provisioning_type(p.provisioningtype)
    rules.check_manageable(ctx, p.domainid, "service offering")
    disk = check_extras(ctx, p, name, vm_type, store) or \
        compute_only_disk(ctx, p, name, text, store, provisioning, vm_type)
    offering = ServiceOffering(
        name=name, display_text=text, cpu=p.cpunumber, speed=p.cpuspeed, ram_size=p.memory,
        min_cpu=p.mincpunumber, max_cpu=p.maxcpunumber, min_memory=p.minmemory, max_memory=p.maxmemory,
        customized=customized, ha_enabled=bool(p.offerha), limit_cpu_use=bool(p.limitcpuuse),
        dynamic_scaling_enabled=p.dynamicscalingenabled is not False, host_tag=p.hosttags,
        storage_tags=p.tags, storage_type=store, provisioning_type=provisioning, network_rate=p.networkrate,
        deployment_planner=p.deploymentplanner, root_disk_size=(p.rootdisksize or 0) * GIB or None,
        disk_offering_id=disk.id, is_system=vm_type is not None, system_vm_type=vm_type,
        domain_ids=rules.to_csv(p.domainid), zone_ids=rules.to_csv(p.zoneid))
    ctx.db.add(offering)
    ctx.db.flush()
    details = map_to_dict(p.details)
    if p.mincpunumber is not None:
        details.update(mincpunumber=p.mincpunumber, maxcpunumber=p.maxcpunumber, minmemory=p.minmemory,
                       maxmemory=p.maxmemory)
    rules.save_details(ctx, ServiceOfferingDetail, offering.id, details)
    ctx.event("SERVICE.OFFERING.CREATE", f"Service offering {name} created", resource_type="ServiceOffering",
              resource_id=offering.uuid)
    return offering


SCOPE_PARAMS = [
    Param("domainid", LIST, of=UUID, entity=Domain, description="the ID of the containing domain(s), null "
                                                                "for public offerings"),
    Param("zoneid", LIST, of=UUID, entity=DataCenter, since="4.13",
          description="the ID of the containing zone(s), null for public offerings"),
]
RATE_PARAMS = [
    Param("bytesreadrate", LONG, description="bytes read rate of the disk offering"),
    Param("byteswriterate", LONG, description="bytes write rate of the disk offering"),
    Param("iopsreadrate", LONG, description="io requests read rate of the disk offering"),
    Param("iopswriterate", LONG, description="io requests write rate of the disk offering"),
    Param("customizediops", BOOLEAN, description="whether compute offering iops is custom or not"),
    Param("miniops", LONG, description="min iops of the compute offering"),
    Param("maxiops", LONG, description="max iops of the compute offering"),
]


@command("createServiceOffering", response="serviceoffering", roles=OFFERING_ADMINS, params=[
    Param("name", STRING, required=True, description="the name of the service offering"),
    Param("displaytext", STRING, length=4096, description="The display text of the service offering, "
                                                          "defaults to 'name'."),
    Param("cpunumber", INTEGER, description="the CPU number of the service offering"),
    Param("cpuspeed", INTEGER, description="the CPU speed of the service offering in MHz."),
    Param("memory", INTEGER, description="the total memory of the service offering in MB"),
    Param("customized", BOOLEAN, since="4.13", description="Whether service offering size is custom or not"),
    Param("mincpunumber", INTEGER, description="The minimum number of CPUs to be set with Custom Compute "
                                               "Offering"),
    Param("maxcpunumber", INTEGER, description="The maximum number of CPUs to be set with Custom Compute "
                                               "Offering"),
    Param("minmemory", INTEGER, description="The minimum memory size of the custom service offering in MB"),
    Param("maxmemory", INTEGER, description="The maximum memory size of the custom service offering in MB"),
    Param("offerha", BOOLEAN, description="the HA for the service offering"),
    Param("limitcpuuse", BOOLEAN, description="restrict the CPU usage to committed service offering"),
    Param("hosttags", STRING, description="the host tag for this service offering."),
    Param("tags", STRING, length=4096, description="the tags for this service offering."),
    Param("storagetype", STRING, description="the storage type of the service offering. Values are local and "
                                             "shared."),
    Param("provisioningtype", STRING, description="provisioning type used to create volumes. Valid values "
                                                  "are thin, sparse, fat."),
    Param("issystem", BOOLEAN, description="is this a system vm offering"),
    Param("systemvmtype", STRING, description="the system VM type. Possible types are \"domainrouter\", "
                                              "\"consoleproxy\" and \"secondarystoragevm\"."),
    Param("networkrate", INTEGER, description="data transfer rate in megabits per second allowed. Supported "
                                              "only for non-System offering and system offerings having "
                                              "\"domainrouter\" systemvmtype"),
    Param("deploymentplanner", STRING, description="The deployment planner heuristics used to deploy a VM of "
                                                   "this offering. If null, value of global config "
                                                   "vm.deployment.planner is used"),
    Param("rootdisksize", LONG, description="the Root disk size in GB."),
    Param("diskofferingid", UUID, entity=DiskOffering, since="4.17",
          description="the ID of the disk offering to which service offering should be mapped"),
    Param("dynamicscalingenabled", BOOLEAN, since="4.16",
          description="true if virtual machine needs to be dynamically scalable of cpu or memory"),
    Param("encryptroot", BOOLEAN, since="4.18", description="VMs using this offering require root volume "
                                                            "encryption"),
    Param("details", MAP, description="details for planner, used to store specific parameters"),
    *SCOPE_PARAMS, *RATE_PARAMS,
])
def create_service_offering(ctx, p):
    """Creates a service offering."""
    return service_offering(ctx, create(ctx, p))


# ---- update, delete -----------------------------------------------------------------------------

def compute_disk(ctx, offering: ServiceOffering) -> DiskOffering | None:
    disk = ctx.db.get(DiskOffering, offering.disk_offering_id) if offering.disk_offering_id else None
    return disk if disk is not None and disk.compute_only else None


def apply_scope(ctx, offering: ServiceOffering, domains, zones) -> None:
    if domains is not None:
        rules.check_manageable(ctx, domains, "service offering")
        outside = vms_outside(ctx, offering, domains)
        if outside:
            raise InvalidParameter("There are Instances associated to this service offering outside of the "
                                   "specified domains.")
        offering.domain_ids = rules.to_csv(domains)
    if zones is not None:
        offering.zone_ids = rules.to_csv(zones)
    disk = compute_disk(ctx, offering)
    if disk is not None:
        disk.domain_ids, disk.zone_ids = offering.domain_ids, offering.zone_ids


def vms_outside(ctx, offering: ServiceOffering, domains: list[Domain]) -> int:
    if not domains:
        return 0
    allowed = {d for domain in domains for d in subtree_ids(ctx, domain.id)}
    rows = ctx.db.scalars(select(VMInstance.domain_id).where(
        VMInstance.service_offering_id == offering.id, VMInstance.removed.is_(None))).all()
    return sum(1 for domain_id in rows if domain_id not in allowed)


def live_offering(ctx, row: ServiceOffering) -> ServiceOffering:
    if row.removed is not None:
        raise InvalidParameter(f"unable to find service offering {row.uuid}")
    rules.check_owned(ctx, row.domain_ids, "service offering")
    return row


@command("updateServiceOffering", response="serviceoffering", roles=OFFERING_ADMINS, params=[
    Param("id", UUID, entity=ServiceOffering, required=True, description="the ID of the service offering to "
                                                                         "be updated"),
    Param("name", STRING, description="the name of the service offering to be updated"),
    Param("displaytext", STRING, length=4096, description="the display text of the service offering to be "
                                                          "updated"),
    Param("sortkey", INTEGER, description="sort key of the service offering, integer"),
    Param("domainid", STRING, description="the ID of the containing domain(s) as comma separated string, "
                                          "public for public offerings"),
    Param("zoneid", STRING, since="4.13", description="the ID of the containing zone(s) as comma separated "
                                                      "string, all for all zones offerings"),
    Param("hosttags", STRING, since="4.16", description="comma-separated list of host tags for the service "
                                                        "offering to use"),
    Param("storagetags", STRING, since="4.16", description="comma-separated list of tags for the service "
                                                           "offering, tags should match with existing "
                                                           "storage pool tags"),
    Param("state", STRING, since="4.19", description="state of the service offering: Active or Inactive"),
])
def update_service_offering(ctx, p):
    """Updates a service offering."""
    offering = live_offering(ctx, p.id)
    for attr, value in (("name", p.name), ("display_text", p.displaytext), ("sort_key", p.sortkey)):
        if value is not None and value != "":
            setattr(offering, attr, value)
    apply_scope(ctx, offering, rules.parse_domains(ctx, p.domainid), rules.parse_zones(ctx, p.zoneid))
    if p.hosttags is not None:
        offering.host_tag = p.hosttags or None
    if p.storagetags is not None:
        offering.storage_tags = p.storagetags or None
        disk = compute_disk(ctx, offering)
        if disk is not None:
            disk.tags = offering.storage_tags
    if p.state:
        offering.state = rules.state_wanted(p.state) or offering.state
    ctx.event("SERVICE.OFFERING.EDIT", f"Service offering {offering.name} updated",
              resource_type="ServiceOffering", resource_id=offering.uuid)
    return service_offering(ctx, offering)


@command("deleteServiceOffering", roles=OFFERING_ADMINS, params=[
    Param("id", UUID, entity=ServiceOffering, required=True, description="the ID of the service offering"),
])
def delete_service_offering(ctx, p):
    """Deletes a service offering."""
    offering = live_offering(ctx, p.id)
    if offering.is_default:
        raise InvalidParameter("Default service offerings cannot be deleted")
    users = ctx.db.scalars(select(VMInstance.id).where(
        VMInstance.service_offering_id == offering.id, VMInstance.removed.is_(None),
        VMInstance.state.not_in(GONE_STATES))).all()
    if users:
        raise ResourceInUse(f"Unable to delete service offering {offering.name}: {len(users)} instance(s) "
                            "use it")
    offering.state, offering.removed = rules.INACTIVE, now()
    disk = compute_disk(ctx, offering)
    if disk is not None:
        disk.state, disk.removed = rules.INACTIVE, offering.removed
    ctx.event("SERVICE.OFFERING.DELETE", f"Service offering {offering.name} deleted",
              resource_type="ServiceOffering", resource_id=offering.uuid)
    return {"success": True}


# ---- listing ------------------------------------------------------------------------------------

def fits(offering: ServiceOffering, cpus: int | None, speed: int | None, memory: int | None) -> bool:
    """The cpunumber/cpuspeed/memory filters: fixed offerings of that size, or custom ones allowing it."""
    checks = ((cpus, offering.cpu, offering.min_cpu, offering.max_cpu),
              (memory, offering.ram_size, offering.min_memory, offering.max_memory),
              (speed, offering.speed, None, None))
    for wanted, fixed, low, high in checks:
        if wanted is None:
            continue
        if fixed is not None:
            if fixed != wanted:
                return False
        elif low is not None and not low <= wanted <= high:
            return False
    return True


def listed(ctx, p, rows: list[ServiceOffering]) -> list[ServiceOffering]:
    return [row for row in rows
            if rules.visible(ctx, row.domain_ids)
            and rules.keyword_match(p.keyword, row.name, row.display_text)
            and (p.zoneid is None or rules.in_zone(row.zone_ids, p.zoneid))
            and (p.domainid is None or rules.for_domain(ctx, row.domain_ids, p.domainid, bool(p.isrecursive)))
            and fits(row, p.cpunumber, p.cpuspeed, p.memory)]


def list_query(ctx, p):
    query = select(ServiceOffering).where(ServiceOffering.removed.is_(None))
    if p.issystem:
        if not (ctx.caller.is_root_admin or ctx.caller.is_system):
            raise InvalidParameter("Only ROOT admins can access system's offering")
        query = query.where(ServiceOffering.is_system.is_(True))
        if p.systemvmtype:
            query = query.where(ServiceOffering.system_vm_type == p.systemvmtype.lower())
    else:
        if p.systemvmtype:
            raise InvalidParameter("systemvmtype can be used only together with issystem=true")
        query = query.where(ServiceOffering.is_system.is_(False))
    if p.id is not None:
        query = query.where(ServiceOffering.id == p.id.id)
    if p.name:
        query = query.where(ServiceOffering.name == p.name)
    state = rules.state_wanted(p.state)
    if state:
        query = query.where(ServiceOffering.state == state)
    ascending = str(ctx.setting("sortkey.algorithm")).lower() != "false"
    key = ServiceOffering.sort_key if ascending else ServiceOffering.sort_key.desc()
    return query.order_by(key, ServiceOffering.id)


@command("listServiceOfferings", response="serviceoffering", listing="list", params=[
    Param("id", UUID, entity=ServiceOffering, description="ID of the service offering"),
    Param("name", STRING, description="name of the service offering"),
    Param("domainid", UUID, entity=Domain, description="the ID of the domain associated with the service "
                                                       "offering"),
    Param("zoneid", UUID, entity=DataCenter, since="4.13", description="id of zone disk offering is "
                                                                       "associated with"),
    Param("isrecursive", BOOLEAN, description="defaults to false, but if true, lists all resources from the "
                                              "parent specified by the domainId till leaves."),
    Param("issystem", BOOLEAN, description="is this a system vm offering"),
    Param("systemvmtype", STRING, description="the system VM type. Possible types are \"consoleproxy\", "
                                              "\"secondarystoragevm\" or \"domainrouter\"."),
    Param("virtualmachineid", UUID, entity=VMInstance, description="the ID of the virtual machine. Pass this "
                                                                   "in if you want to see the available "
                                                                   "service offering that a virtual machine "
                                                                   "can be changed to."),
    Param("cpunumber", INTEGER, since="4.15", description="the CPU number that listed offerings must "
                                                          "support"),
    Param("cpuspeed", INTEGER, since="4.15", description="the CPU speed that listed offerings must support"),
    Param("memory", INTEGER, since="4.15", description="the RAM memory that listed offering must support"),
    Param("state", STRING, since="4.19", description="Filter by state of the service offering. Defaults to "
                                                     "'Active'. If set to 'all' shows both Active & Inactive "
                                                     "offerings."),
])
def list_service_offerings(ctx, p):
    """Lists all available service offerings."""
    # virtualmachineid (offerings a VM may change to) needs the VM deployment code: accepted, ignored.
    rows = listed(ctx, p, list(ctx.db.scalars(list_query(ctx, p))))
    return rules.page_rows(ctx, p, rows, lambda page: service_offerings(ctx, page))


from . import disk_offerings as _disk_offerings  # noqa: E402, F401  (declares the disk offering commands)
