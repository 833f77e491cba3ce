"""User VM rows → UserVmResponse objects, a page at a time.

A page of VMs is rendered from a fixed number of queries whatever its length: each related table
(zones, hosts, templates, offerings, owners, groups, NICs, tags, pending jobs, ...) is read once for the
whole page with `IN (...)`, never once per VM — listVirtualMachines must stay fast at 100,000 VMs.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import bindparam, select
from sqlalchemy.orm.util import identity_key

from ..core.db import core, prebuilt
from ..core.jobs import PENDING, AsyncJob
from ..core.listing import domain_paths, page_rows
from ..core.render import ListResult
from ..core.responses import describe
from ..iam.models import Account, User
from ..infra.models import DataCenter, Host
from ..storage.models import GuestOs, VMTemplate
from . import peers
from . import vm_service as service
from .models import (
    AffinityGroup,
    AffinityGroupVm,
    InstanceGroup,
    InstanceGroupVm,
    ServiceOffering,
    UserData,
    VMInstance,
)


def page(ctx, p, query, *, keyword_columns=(), order_by=None) -> ListResult:
    """A page of single-entity rows (the VM or volume objects) and the total."""
    result = page_rows(ctx, p, query, keyword_columns=keyword_columns, order_by=order_by)
    result.items = [row[0] for row in result.items]
    return result


def rows_by_id(ctx, *columns, ids) -> dict:
    """{id: row} of the given columns (the first column is the model's id) for a set of ids: one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    id_column = columns[0]
    found = held(ctx, id_column.class_, wanted)
    missing = wanted.difference(found)
    if missing:
        key = ("rows",) + tuple(f"{c.class_.__name__}.{c.key}" for c in columns)
        statement = prebuilt(key, lambda: select(*columns).where(
            id_column.in_(bindparam("ids", expanding=True))))
        found.update((row[0], row) for row in core(ctx.db, statement, {"ids": list(missing)}))
    return found


def held(ctx, model, ids: set) -> dict:
    """The rows of these ids the session already holds (a job's zone, offering, template, host): their
    columns are read from those objects instead of being queried again."""
    if ctx.session is None:
        return {}
    held_map = ctx.session.identity_map
    found = {}
    for row_id in ids:
        row = held_map.get(identity_key(model, row_id))
        if row is not None:
            found[row_id] = row
    return found


def owners(ctx, rows) -> tuple[dict, callable]:
    """Account rows of a page, and a function answering the owner fields of one row."""
    accounts = rows_by_id(ctx, Account.id, Account.uuid, Account.account_name,
                          ids={r.account_id for r in rows})
    paths = domain_paths(ctx)

    def fields(row) -> dict:
        account = accounts.get(row.account_id)
        path, domain_uuid = paths.get(row.domain_id, ("/", None))
        return {"account": account.account_name if account else None,
                "accountid": account.uuid if account else None, "domainid": domain_uuid,
                "domain": path.rstrip("/").rsplit("/", 1)[-1] or "ROOT",
                "domainpath": "ROOT" + path.rstrip("/") if path != "/" else "ROOT"}

    return accounts, fields


def grouped(ctx, query, params=None) -> dict[int, list]:
    found = defaultdict(list)
    for row in core(ctx.db, query, params):
        found[row[0]].append(row)
    return found


def pending_jobs(ctx, uuids: list[str], instance_type: str) -> dict[str, str]:
    """{row uuid: job uuid} of pending jobs on the rows, but the job rendering this answer (its own result
    must not say it is still pending)."""
    if not uuids:
        return {}
    statement = prebuilt("views.pending_jobs", lambda: select(AsyncJob.instance_id, AsyncJob.uuid).where(
        AsyncJob.instance_id.in_(bindparam("uuids", expanding=True)),
        AsyncJob.instance_type == bindparam("type"), AsyncJob.status == PENDING, AsyncJob.id != bindparam("job")))
    rows = core(ctx.db, statement, {"uuids": uuids, "type": instance_type, "job": ctx.job_id or 0})
    return dict(rows.all())


class Page:
    """Everything a page of VMs refers to, loaded once."""

    def __init__(self, ctx, vms: list[VMInstance]):
        ids = [vm.id for vm in vms]
        self.accounts, self.owner = owners(ctx, vms)
        self.zones = rows_by_id(ctx, DataCenter.id, DataCenter.uuid, DataCenter.name,
                                ids={vm.zone_id for vm in vms})
        self.hosts = rows_by_id(ctx, Host.id, Host.uuid, Host.name, ids={vm.host_id for vm in vms})
        self.templates = rows_by_id(ctx, VMTemplate.id, VMTemplate.uuid, VMTemplate.name,
                                    VMTemplate.display_text,
                                    VMTemplate.password_enabled, VMTemplate.type, VMTemplate.format,
                                    ids={vm.template_id for vm in vms} | {vm.iso_id for vm in vms})
        self.offerings = rows_by_id(ctx, ServiceOffering.id, ServiceOffering.uuid, ServiceOffering.name,
                                    ids={vm.service_offering_id for vm in vms})
        self.os = rows_by_id(ctx, GuestOs.id, GuestOs.uuid, GuestOs.display_name,
                             ids={vm.guest_os_id for vm in vms})
        self.user_data = rows_by_id(ctx, UserData.id, UserData.uuid, UserData.name,
                                    ids={vm.user_data_id for vm in vms})
        # Each VM's details JSON is read once per page (the hidden keys too).
        self.details = {vm.id: service.all_details(vm) for vm in vms}
        self.users = rows_by_id(ctx, User.id, User.uuid, User.username,
                                ids={d.get(service.HIDDEN + "userid") for d in self.details.values()})
        self.groups = grouped(ctx, prebuilt("views.groups", lambda: select(
            InstanceGroupVm.instance_id, InstanceGroup.uuid, InstanceGroup.name)
            .join(InstanceGroup, InstanceGroup.id == InstanceGroupVm.group_id)
            .where(InstanceGroupVm.instance_id.in_(bindparam("ids", expanding=True)))), {"ids": ids})
        self.affinity = grouped(ctx, prebuilt("views.affinity", lambda: select(
            AffinityGroupVm.instance_id, AffinityGroup.uuid, AffinityGroup.name, AffinityGroup.type,
            AffinityGroup.description)
            .join(AffinityGroup, AffinityGroup.id == AffinityGroupVm.affinity_group_id)
            .where(AffinityGroupVm.instance_id.in_(bindparam("ids", expanding=True)))
            .order_by(AffinityGroupVm.id)), {"ids": ids})
        self.nics = peers.nic_views(ctx, ids)
        from ..network.security_group_members import vm_group_views  # at call time, as in peers.py

        self.security_groups = vm_group_views(ctx, ids)
        self.tags = peers.tags_for(ctx, "UserVm", ids)
        self.jobs = pending_jobs(ctx, [vm.uuid for vm in vms], "VirtualMachine")


def views(ctx, vms: list[VMInstance], *, with_password: bool = False) -> list[dict]:
    page = Page(ctx, vms)
    admin = ctx.caller.is_root_admin or ctx.caller.is_system
    return [view_of(page, vm, admin, with_password) for vm in vms]


def view(ctx, vm: VMInstance, *, with_password: bool = False) -> dict:
    return views(ctx, [vm], with_password=with_password)[0]


def view_of(page: Page, vm: VMInstance, admin: bool, with_password: bool) -> dict:
    details = page.details[vm.id]

    def own(key, default=None):
        return details.get(service.HIDDEN + key, default)

    zone = page.zones.get(vm.zone_id)
    template = page.templates.get(vm.template_id)
    iso = page.templates.get(vm.iso_id)
    offering = page.offerings.get(vm.service_offering_id)
    os = page.os.get(vm.guest_os_id)
    group = (page.groups.get(vm.id) or [None])[0]
    nics = page.nics.get(vm.id, [])
    default_nic = next((n for n in nics if n.get("isdefault")), nics[0] if nics else {})
    answer = {
        "id": vm.uuid, "name": vm.name, "displayname": vm.display_name or vm.name, **page.owner(vm),
        "created": vm.created, "state": vm.state, "haenable": vm.ha_enabled,
        "groupid": group.uuid if group else None, "group": group.name if group else None,
        "zoneid": zone.uuid if zone else None, "zonename": zone.name if zone else None,
        "templateid": template.uuid if template else None,
        "templatename": template.name if template else None,
        "templatedisplaytext": template.display_text if template else None,
        "templatetype": template.type if template else None,
        "passwordenabled": bool(template.password_enabled) if template else False,
        "isoid": iso.uuid if iso else None, "isoname": iso.name if iso else None,
        "isodisplaytext": iso.display_text if iso else None,
        "serviceofferingid": offering.uuid if offering else None,
        "serviceofferingname": offering.name if offering else None,
        "cpunumber": vm.cpus, "cpuspeed": vm.speed, "memory": vm.ram // service.MIB,
        "guestosid": os.uuid if os else None, "ostypeid": os.uuid if os else None,
        "osdisplayname": os.display_name if os else None, "rootdeviceid": 0, "rootdevicetype": "ROOT",
        "securitygroup": page.security_groups.get(vm.id, []), "nic": nics,
        "ipaddress": default_nic.get("ipaddress"),
        "hypervisor": vm.hypervisor_type,
        "keypairs": vm.keypairs, "keypair": vm.keypairs,
        "affinitygroup": [{"id": a.uuid, "name": a.name, "type": a.type, "description": a.description}
                          for a in page.affinity.get(vm.id, [])],
        "isdynamicallyscalable": bool(own("dynamicscaling", False)), "displayvm": vm.display_vm,
        "tags": page.tags.get(vm.id, []),
        "details": {k: v for k, v in details.items() if not k.startswith(service.HIDDEN)} or None,
        "boottype": own("boottype"), "bootmode": own("bootmode"),
        "arch": "x86_64", "lastupdated": vm.last_started,
    }
    answer.update(extra_fields(page, vm, admin, with_password, template))
    return answer


def extra_fields(page: Page, vm: VMInstance, admin: bool, with_password: bool, template) -> dict:
    user = page.users.get(page.details[vm.id].get(service.HIDDEN + "userid"))
    data = page.user_data.get(vm.user_data_id)
    host = page.hosts.get(vm.host_id)
    answer = {"userid": user.uuid if user else None, "username": user.username if user else None,
              "userdataid": data.uuid if data else None, "userdataname": data.name if data else None,
              "jobid": page.jobs.get(vm.uuid), "jobstatus": 0 if vm.uuid in page.jobs else None}
    if admin:
        answer.update(hostid=host.uuid if host else None, hostname=host.name if host else None,
                      instancename=service.instance_name_in(vm, page.details[vm.id]))
    if vm.state == service.RUNNING:
        answer.update(cpuused="0%", networkkbsread=0, networkkbswrite=0, diskkbsread=0, diskkbswrite=0,
                      diskioread=0, diskiowrite=0, memorykbs=vm.ram // 1024, memoryintfreekbs=0,
                      memorytargetkbs=vm.ram // 1024)
    if with_password and vm.password and template is not None and template.password_enabled:
        answer["password"] = vm.password
    return answer


def user_data_view(ctx, vm: VMInstance) -> dict:
    return {"virtualmachineid": vm.uuid, "userdata": vm.user_data}


describe("virtualmachine", {
    "id": "the ID of the virtual machine",
    "name": "the name of the virtual machine",
    "displayname": "user generated name. The name of the virtual machine is returned if no displayname "
                   "exists.",
    "account": "the account associated with the virtual machine",
    "accountid": "the account id",
    "userid": "the user's ID who deployed the virtual machine",
    "username": "the user's name who deployed the virtual machine",
    "domainid": "the ID of the domain in which the virtual machine exists",
    "domain": "the name of the domain in which the virtual machine exists",
    "domainpath": "path of the domain",
    "created": "the date when this virtual machine was created",
    "state": "the state of the virtual machine",
    "haenable": "true if high-availability is enabled, false otherwise",
    "groupid": "the group ID of the VM",
    "group": "the group name of the virtual machine",
    "zoneid": "the ID of the availability zone",
    "zonename": "the name of the availability zone",
    "hostid": "the ID of the host for the virtual machine",
    "hostname": "the name of the host for the virtual machine",
    "templateid": "the ID of the template",
    "templatename": "the name of the template",
    "templatedisplaytext": "an alternate display text of the template",
    "templatetype": "the type of the template",
    "passwordenabled": "true if the password rest feature is enabled",
    "isoid": "the ID of the ISO attached",
    "isoname": "the name of the ISO attached",
    "isodisplaytext": "an alternate display text of the ISO attached",
    "serviceofferingid": "the ID of the service offering",
    "serviceofferingname": "the name of the service offering",
    "cpunumber": "the number of vCPUs",
    "cpuspeed": "the speed of each vCPU",
    "memory": "the memory allocated (MiB)",
    "cpuused": "the amount of the vm's CPU currently used",
    "networkkbsread": "the incoming network traffic on the VM in KiB",
    "networkkbswrite": "the outgoing network traffic on the host in KiB",
    "diskkbsread": "the VM's disk read in KiB",
    "diskkbswrite": "the VM's disk write in KiB",
    "diskioread": "the read (IO) of disk on the VM",
    "diskiowrite": "the write (IO) of disk on the VM",
    "memorykbs": "the memory used by the VM in KiB",
    "memoryintfreekbs": "the internal memory that's free in VM or zero if it can not be calculated",
    "memorytargetkbs": "the target memory in VM (KiB)",
    "guestosid": "Os type ID of the virtual machine",
    "ostypeid": "OS type id of the vm",
    "osdisplayname": "OS name of the vm",
    "rootdeviceid": "device ID of the root volume",
    "rootdevicetype": "device type of the root volume",
    "securitygroup": "list of security groups associated with the virtual machine",
    "password": "the password (if exists) of the virtual machine",
    "nic": "the list of nics associated with vm",
    "ipaddress": "the IP of the default NIC",
    "hypervisor": "the hypervisor on which the template runs",
    "instancename": "instance name of the user vm; this parameter is returned to the ROOT admin only",
    "keypairs": "ssh key-pairs",
    "keypair": "ssh key-pairs (pre-4.17 name)",
    "userdataid": "the id of userdata used for the VM",
    "userdataname": "the name of userdata used for the VM",
    "affinitygroup": "list of affinity groups associated with the virtual machine",
    "isdynamicallyscalable": "true if vm contains XS/VMWare tools inorder to support dynamic scaling of VM "
                             "cpu/memory.",
    "displayvm": "an optional field whether to the display the vm to the end user or not.",
    "tags": "the list of resource tags associated",
    "details": "Vm details in key/value pairs.",
    "jobid": "the ID of the latest async job acting on this object",
    "jobstatus": "the current status of the latest async job acting on this object",
    "boottype": "Guest vm Boot Type",
    "bootmode": "Guest vm Boot Mode",
    "arch": "CPU arch of the VM",
    "lastupdated": "the date when this virtual machine was updated",
})
describe("virtualmachineuserdata", {
    "virtualmachineid": "the ID of the virtual machine",
    "userdata": "Base64 encoded VM user data",
})
