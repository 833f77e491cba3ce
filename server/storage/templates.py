"""Templates and ISOs: what a fresh cloud has (guest OS types, the simulator templates) and the API
commands. The logic is in template_service.py, downloads in template_downloads.py, answers in
template_views.py.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..compute.models import UserData
from ..core.params import BOOLEAN, INTEGER, LIST, MAP, STRING, UUID, Param
from ..core.registry import command
from ..core.render import ListResult
from ..iam.models import Domain
from ..infra.models import DataCenter
from . import template_service as service
from . import template_views as views
from . import template_visibility as visibility
from .models import GuestOs, GuestOsCategory, VMTemplate

SYSTEM_ACCOUNT_ID = 1
ROOT_DOMAIN_ID = 1
SIMULATOR_TEMPLATE_SIZE = 10**9  # upstream MockStorageManager.DEFAULT_TEMPLATE_SIZE: 1 GB

# Guest OS categories with upstream's ids (guest_os_category), so scripts that use the ids keep working.
CATEGORIES = ((1, "CentOS"), (2, "Debian"), (3, "Oracle"), (4, "RedHat"), (5, "SUSE"), (6, "Windows"),
              (7, "Other"), (8, "Novel"), (9, "Unix"), (10, "Ubuntu"), (11, "None"))

# (id or None, category id, display name). Ids are fixed only where the specs name them (the simulator
# templates point at guest OS 142 and 15); the others are numbered by the database.
GUEST_OS_TYPES = (
    (15, 2, "Debian GNU/Linux 5.0 (64-bit)"),
    (142, 1, "CentOS 5.6 (64-bit)"),
    (None, 1, "CentOS 5.3 (64-bit)"),
    (None, 1, "CentOS 5.5 (64-bit)"),
    (None, 2, "Debian GNU/Linux 11 (64-bit)"),
    (None, 2, "Debian GNU/Linux 12 (64-bit)"),
    (None, 10, "Ubuntu 20.04 LTS"),
    (None, 10, "Ubuntu 22.04 LTS"),
    (None, 7, "Other Linux (32-bit)"),
    (None, 7, "Other Linux (64-bit)"),
    (None, 7, "Other (32-bit)"),
    (None, 7, "Other (64-bit)"),
    (None, 6, "Windows Server 2019 (64-bit)"),
    (None, 6, "Windows Server 2022 (64-bit)"),
    (None, 11, "None"),  # the guest OS of non-bootable ISOs, as upstream names it
)

# The simulator's templates as upstream seeds them (spec/ecosystem-defaults.md §2).
SIMULATOR_TEMPLATES = (
    {"id": 100, "unique_name": "simulator-domR", "name": "SystemVM Template (simulator)", "type": "SYSTEM",
     "public": False, "featured": False, "guest_os_id": 15},
    {"id": 111, "unique_name": "simulator-Centos", "name": "CentOS 5.6 (64-bit) no GUI (Simulator)",
     "type": "BUILTIN", "public": True, "featured": True, "guest_os_id": 142},
)


def seed_guest_os_and_templates(db: Session) -> None:
    """Add the guest OS types and simulator templates a fresh cloud has. Idempotent: adds only what is
    missing (matched by id, or by display name for guest OS types without a fixed id)."""
    for category_id, name in CATEGORIES:
        if db.get(GuestOsCategory, category_id) is None:
            db.add(GuestOsCategory(id=category_id, name=name))
    db.flush()
    existing = set(db.scalars(select(GuestOs.display_name).where(GuestOs.removed.is_(None))))
    # Fixed ids first, so the numbered rows never take an id the specs reserve.
    for os_id, category_id, name in GUEST_OS_TYPES:
        if name not in existing and (os_id is None or db.get(GuestOs, os_id) is None):
            db.add(GuestOs(id=os_id, category_id=category_id, display_name=name))
            db.flush()
    for spec in SIMULATOR_TEMPLATES:
        if db.get(VMTemplate, spec["id"]) is None:
            db.add(VMTemplate(**spec, display_text=spec["name"], format="VHD", hypervisor_type="Simulator",
                              account_id=SYSTEM_ACCOUNT_ID, domain_id=ROOT_DOMAIN_ID, cross_zones=True,
                              password_enabled=False, bootable=True, extractable=False, bits=64,
                              size=SIMULATOR_TEMPLATE_SIZE, state="Active"))
    db.flush()


# ---- commands -----------------------------------------------------------------------------------

def template_id(description: str, *, check_access: bool = True, required: bool = True) -> Param:
    # Without check_access the handler decides: users may name public and shared templates too.
    return Param("id", UUID, entity=VMTemplate, required=required, check_access=check_access,
                 description=description)


OWNER_PARAMS = [
    Param("account", STRING, description="an optional accountName. Must be used with domainId."),
    Param("domainid", UUID, entity=Domain, description="an optional domainId. If the account parameter is "
                                                       "used, domainId must also be used."),
]
COMMON_REGISTER_PARAMS = [
    Param("name", STRING, required=True, description="the name of the template"),
    Param("displaytext", STRING, length=4096, description="The display text of the template, defaults to "
                                                          "'name'."),
    Param("url", STRING, required=True, length=2048, description="the URL of where the template is hosted. "
                                                                 "Possible URL include http:// and https://"),
    Param("ostypeid", UUID, entity=GuestOs, description="the ID of the OS Type that best represents the OS "
                                                        "of this template."),
    Param("ispublic", BOOLEAN, description="true if the template is available to all accounts; default is "
                                           "true for admins, false for users"),
    Param("isfeatured", BOOLEAN, description="true if this template is a featured template, false otherwise"),
    Param("isextractable", BOOLEAN, description="true if the template or its derivatives are extractable; "
                                                "default is false"),
    Param("passwordenabled", BOOLEAN, description="true if the template supports the password reset feature; "
                                                  "default is false"),
    Param("isdynamicallyscalable", BOOLEAN, description="true if template contains XS/VMWare tools inorder "
                                                        "to support dynamic scaling of VM cpu/memory"),
    Param("checksum", STRING, description="the checksum value of this template. The parameter containing the "
                                          "checksum will be considered a MD5sum if it is not prefixed and "
                                          "just a plain ascii/utf8 representation of a hexadecimal string. "
                                          "If it is required to use another algorithm the hexadecimal string "
                                          "is to be prefixed with a string of the form, \"{<algorithm>}\""),
    Param("directdownload", BOOLEAN, since="4.11", description="Active only for KVM: the template is "
                                                               "downloaded straight to primary storage"),
    Param("arch", STRING, since="4.20", description="the CPU arch of the template. Valid options are: "
                                                    "x86_64, aarch64, s390x"),
    Param("userdataid", UUID, entity=UserData, since="4.18", description="the ID of the user data to be "
                                                                         "linked to the template"),
    Param("userdatapolicy", STRING, since="4.18", description="an optional override policy of the user data: "
                                                              "ALLOWOVERRIDE, APPEND or DENYOVERRIDE"),
    *OWNER_PARAMS,
]


@command("registerTemplate", response="template", params=[
    *COMMON_REGISTER_PARAMS,
    Param("format", STRING, required=True, description="the format for the template. Possible values include "
                                                       "QCOW2, RAW, VHD and OVA."),
    Param("hypervisor", STRING, required=True, description="the target hypervisor for the template"),
    Param("zoneid", UUID, description="the ID of the zone the template is to be hosted on; -1 for all zones"),
    Param("zoneids", LIST, of=UUID, entity=DataCenter, since="4.14",
          description="A list of zone ids where the template will be hosted. Use this parameter if the "
                      "template needs to be registered to multiple zones in one go. Use zoneid if the "
                      "template needs to be registered to only one zone. Passing only -1 to this will cause "
                      "the template to be registered as a cross zone template and will be copied to all "
                      "zones."),
    Param("bits", INTEGER, description="32 or 64 bits support. 64 by default"),
    Param("requireshvm", BOOLEAN, description="true if this template requires HVM"),
    Param("sshkeyenabled", BOOLEAN, description="true if the template supports the sshkey upload feature; "
                                                "default is false"),
    Param("templatetag", STRING, description="the tag for this template."),
    Param("details", MAP, description="Template details in key/value pairs using format "
                                      "details[i].keyname=keyvalue. Example: "
                                      "details[0].hypervisortoolsversion=xenserver61"),
    Param("isrouting", BOOLEAN, description="true if the template type is routing i.e., if template is used "
                                            "to deploy router"),
    Param("templatetype", STRING, since="4.19", description="the type of the template. Valid options are: "
                                                            "USER/VNF (for all users) and "
                                                            "SYSTEM/ROUTING/BUILTIN (for admins only)."),
    Param("deployasis", BOOLEAN, since="4.15", description="VMware only: true if VM deployments should "
                                                           "preserve all the configurations defined for this "
                                                           "template"),
])
def register_template(ctx, p):
    """Registers an existing template into the CloudStack cloud."""
    return registered(ctx, p, iso=False)


@command("registerIso", response="iso", params=[
    *COMMON_REGISTER_PARAMS,
    Param("zoneid", UUID, required=True, description="the ID of the zone you wish to register the ISO to; -1 "
                                                     "for all zones"),
    Param("bootable", BOOLEAN, description="true if this ISO is bootable. If not passed explicitly its "
                                           "assumed to be true"),
])
def register_iso(ctx, p):
    """Registers an existing ISO into the CloudStack Cloud."""
    return registered(ctx, p, iso=True)


def registered(ctx, p, iso: bool) -> ListResult:
    template, zone_ids = service.register(ctx, p, iso)
    items = views.templates(ctx, [(template, zone_id) for zone_id in zone_ids], iso)
    return ListResult(items, len(items))


LIST_FILTERS = [
    Param("name", STRING, description="the name of the template or ISO"),
    Param("zoneid", UUID, entity=DataCenter, description="list templates or ISOs by zoneId"),
    Param("hypervisor", STRING, description="the hypervisor for which to restrict the search"),
    Param("showremoved", BOOLEAN, description="show removed templates and ISOs as well"),
    Param("isready", BOOLEAN, description="true if this template or ISO is ready to be deployed"),
    Param("arch", STRING, since="4.20", description="the CPU arch of the template or ISO"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
]


@command("listTemplates", response="template", listing="owned", params=[
    Param("templatefilter", STRING, required=True,
          description="possible values are \"featured\", \"self\", "
                      "\"selfexecutable\",\"sharedexecutable\",\"executable\", and \"community\". * featured "
                      ": templates that have been marked as featured and public. * self : templates that "
                      "have been registered or created by the calling user. * selfexecutable : same as self, "
                      "but only returns templates that can be used to deploy a new VM. * sharedexecutable : "
                      "templates ready to be deployed that have been granted to the calling user by another "
                      "user. * executable : templates that are owned by the calling user, or public "
                      "templates, that can be used to deploy a VM. * community : templates that have been "
                      "marked as public but not featured. * all : all templates (only usable by admins)."),
    template_id("the template ID", check_access=False, required=False),
    Param("ids", LIST, of=UUID, entity=VMTemplate, since="4.9", check_access=False,
          description="the IDs of the templates, mutually exclusive with id"),
    Param("templatetype", STRING, since="4.19", description="the type of the template"),
    Param("showunique", BOOLEAN, since="4.13", description="If set to true, list only unique templates "
                                                           "across zones"),
    *LIST_FILTERS,
])
def list_templates(ctx, p):
    """List all public, private, and privileged templates."""
    return visibility.list_templates(ctx, p, p.templatefilter, iso=False)


@command("listIsos", response="iso", listing="owned", params=[
    Param("isofilter", STRING, description="possible values are \"featured\", \"self\", \"selfexecutable\","
                                           "\"sharedexecutable\",\"executable\", and \"community\"; "
                                           "selfexecutable by default"),
    template_id("list ISO by ID", check_access=False, required=False),
    Param("bootable", BOOLEAN, description="true if the ISO is bootable, false otherwise"),
    Param("ispublic", BOOLEAN, description="true if the ISO is publicly available to all users, false "
                                           "otherwise."),
    *LIST_FILTERS,
])
def list_isos(ctx, p):
    """Lists all available ISO files."""
    return visibility.list_templates(ctx, p, p.isofilter or "selfexecutable", iso=True)


UPDATE_PARAMS = [
    Param("name", STRING, description="the name of the image file"),
    Param("displaytext", STRING, length=4096, description="the display text of the image"),
    Param("ostypeid", UUID, entity=GuestOs, description="the ID of the OS type that best represents the OS "
                                                        "of this image."),
    Param("bootable", BOOLEAN, description="true if image is bootable, false otherwise; available only for "
                                           "updateIso API"),
    Param("passwordenabled", BOOLEAN, description="true if the image supports the password reset feature; "
                                                  "default is false"),
    Param("sortkey", INTEGER, description="sort key of the template, integer"),
    Param("isdynamicallyscalable", BOOLEAN, description="true if template/ISO contains XS/VMWare tools "
                                                        "inorder to support dynamic scaling of VM "
                                                        "cpu/memory"),
    Param("requireshvm", BOOLEAN, description="true if the template requires HVM, false otherwise"),
    Param("sshkeyenabled", BOOLEAN, description="true if the template supports the sshkey upload feature; "
                                                "default is false"),
    Param("details", MAP, description="Details in key/value pairs using format details[i].keyname=keyvalue."),
    Param("cleanupdetails", BOOLEAN, description="optional boolean field, which indicates if details should "
                                                 "be cleaned up or not"),
    Param("arch", STRING, since="4.20", description="the CPU arch of the template/ISO"),
]


@command("updateTemplate", response="template", params=[
    template_id("the ID of the image file"), *UPDATE_PARAMS,
    Param("format", STRING, description="the format for the image"),
    Param("templatetype", STRING, since="4.15", description="the type of the template. Valid options are: "
                                                            "USER/VNF (for all users) and "
                                                            "SYSTEM/ROUTING/BUILTIN (for admins only)."),
])
def update_template(ctx, p):
    """Updates attributes of a template."""
    return service.first_view(ctx, service.update(ctx, p.id, p, iso=False), iso=False)


@command("updateIso", response="iso", params=[template_id("the ID of the image file"), *UPDATE_PARAMS])
def update_iso(ctx, p):
    """Updates an ISO file."""
    return service.first_view(ctx, service.update(ctx, p.id, p, iso=True), iso=True)


@command("deleteTemplate", isasync=True, instance_type="Template", params=[
    template_id("the ID of the template"),
    Param("zoneid", UUID, entity=DataCenter, description="the ID of zone of the template"),
    Param("forced", BOOLEAN, since="4.9", description="Force delete a template."),
])
def delete_template(ctx, p):
    """Deletes a template from the system. All virtual machines using the deleted template will not be
    affected."""
    service.delete_template(ctx, p.id, p.zoneid, bool(p.forced), iso=False)
    return {"success": True}


@command("deleteIso", isasync=True, instance_type="Iso", params=[
    template_id("the ID of the ISO file"),
    Param("zoneid", UUID, entity=DataCenter, description="the ID of the zone of the ISO file. If not "
                                                         "specified, the ISO will be deleted from all the "
                                                         "zones"),
])
def delete_iso(ctx, p):
    """Deletes an ISO file."""
    service.delete_template(ctx, p.id, p.zoneid, False, iso=True)
    return {"success": True}


COPY_PARAMS = [
    Param("sourcezoneid", UUID, entity=DataCenter, description="ID of the zone the template is currently "
                                                               "hosted on. If not specified and template is "
                                                               "cross-zone, then we will sync this template "
                                                               "to region wide image store."),
    Param("destzoneid", UUID, entity=DataCenter, description="ID of the zone the template is being copied "
                                                             "to."),
    Param("destzoneids", LIST, of=UUID, entity=DataCenter, since="4.10",
          description="A list of IDs of the zones that the template needs to be copied to."),
]


async def copied(ctx, p, iso: bool) -> dict:
    destinations = list(p.destzoneids or []) + ([p.destzoneid] if p.destzoneid is not None else [])
    zone_id = await service.copy(ctx, p.id, p.sourcezoneid, destinations, iso)
    return views.template(ctx, p.id, zone_id, iso)


@command("copyTemplate", isasync=True, response="template", instance_type="Template",
         params=[template_id("Template ID."), *COPY_PARAMS])
async def copy_template(ctx, p):
    """Copies a template from one zone to another zone."""
    return await copied(ctx, p, iso=False)


@command("copyIso", isasync=True, response="iso", instance_type="Iso",
         params=[template_id("Template ID."), *COPY_PARAMS])
async def copy_iso(ctx, p):
    """Copies an iso from one zone to another."""
    return await copied(ctx, p, iso=True)


EXTRACT_PARAMS = [
    Param("mode", STRING, required=True, description="the mode of extraction - HTTP_DOWNLOAD or FTP_UPLOAD"),
    Param("zoneid", UUID, entity=DataCenter, description="the ID of the zone where the template or ISO is "
                                                         "located"),
    Param("url", STRING, length=2048, description="the url to which the template or ISO would be extracted"),
]


@command("extractTemplate", isasync=True, response="template", instance_type="Template",
         params=[template_id("the ID of the template", check_access=False), *EXTRACT_PARAMS])
def extract_template(ctx, p):
    """Extracts a template"""
    return service.extract(ctx, p.id, p.zoneid, p.mode, iso=False)


@command("extractIso", isasync=True, response="iso", instance_type="Iso",
         params=[template_id("the ID of the ISO file", check_access=False), *EXTRACT_PARAMS])
def extract_iso(ctx, p):
    """Extracts an ISO"""
    return service.extract(ctx, p.id, p.zoneid, p.mode, iso=True)


PERMISSION_PARAMS = [
    Param("accounts", LIST, description="a comma delimited list of accounts within caller's domain. If "
                                        "specified, \"op\" parameter has to be passed in."),
    Param("projectids", LIST, of=UUID, description="a comma delimited list of projects. If specified, \"op\" "
                                                   "parameter has to be passed in."),
    Param("op", STRING, description="permission operator (add, remove, reset)"),
    Param("ispublic", BOOLEAN, description="true for public template/iso, false for private templates/isos"),
    Param("isfeatured", BOOLEAN, description="true for featured template/iso, false otherwise"),
    Param("isextractable", BOOLEAN, description="true if the template/iso is extractable, false other wise. "
                                                "Can be set only by root admin"),
]


@command("updateTemplatePermissions", params=[template_id("the template ID"), *PERMISSION_PARAMS])
def update_template_permissions(ctx, p):
    """Updates a template visibility permissions. A public template is visible to all accounts within the
    same domain. A private template is visible only to the owner of the template. A privileged template is a
    private template with account permissions added. Only accounts specified under the template permissions
    are visible to them."""
    service.update_permissions(ctx, p.id, p, iso=False)
    return {"success": True}


@command("updateIsoPermissions", params=[template_id("the template ID"), *PERMISSION_PARAMS])
def update_iso_permissions(ctx, p):
    """Updates ISO permissions"""
    service.update_permissions(ctx, p.id, p, iso=True)
    return {"success": True}


@command("listTemplatePermissions", response="templatepermission", params=[
    template_id("the template ID", check_access=False)])
def list_template_permissions(ctx, p):
    """List template visibility and all accounts that have permissions to view this template."""
    service.check_permission_listing(ctx, visibility.check_kind(p.id, iso=False))
    return views.permissions(ctx, p.id)


@command("listIsoPermissions", response="templatepermission", params=[
    template_id("the template ID", check_access=False)])
def list_iso_permissions(ctx, p):
    """List iso visibility and all accounts that have permissions to view this iso."""
    service.check_permission_listing(ctx, visibility.check_kind(p.id, iso=True))
    return views.permissions(ctx, p.id)
