"""Template and ISO logic: registration and placement on image stores, who sees what (templatefilter),
updates, deletion, copies between zones, extraction and launch permissions."""

import uuid

from sqlalchemy import delete, select

from ..compute.models import VMInstance
from ..core.db import now
from ..core.errors import ApiError, InvalidParameter, PermissionDenied, ResourceInUse
from ..core.listing import check_owner
from ..core.params import map_to_dict
from ..iam.models import Account
from ..infra.models import DataCenter
from ..usage.models import record_usage
from . import template_downloads as downloads
from . import template_rules as rules
from . import template_views as views
from .models import GuestOs, TemplatePermission, TemplateStoreRef, VMTemplate
from .template_models import TemplateDetail, TemplateFlags
from .template_visibility import account_in, can_view, check_kind, label

ARCHES = ("x86_64", "aarch64", "s390x")
GONE_VM_STATES = ("Expunging", "Destroyed", "Expunged", "Error")


def event_prefix(template: VMTemplate) -> str:
    return "ISO" if template.format == "ISO" else "TEMPLATE"


# ---- registration -------------------------------------------------------------------------------

def guest_os_id(ctx, p, iso: bool) -> int:
    """Bootable ISOs and templates need a guest OS; a non-bootable ISO gets "None", as upstream."""
    os_type = p.ostypeid
    bootable = p.bootable is not False
    if os_type is not None and not (iso and os_type.display_name == "None"):
        return os_type.id
    if not iso or bootable:
        raise InvalidParameter("Please pass a valid GuestOS Id")
    none = ctx.db.scalar(select(GuestOs.id).where(GuestOs.display_name == "None", GuestOs.removed.is_(None)))
    return none if none is not None else ctx.db.scalar(select(GuestOs.id).order_by(GuestOs.id).limit(1))


def check_bits_and_arch(p) -> None:
    if p.bits is not None and p.bits not in (32, 64):
        raise InvalidParameter(f"Invalid bits {p.bits}; valid values are 32 and 64")
    if p.arch and p.arch not in ARCHES:
        raise InvalidParameter(f"Invalid arch {p.arch}; valid values are {', '.join(ARCHES)}")


def new_template(ctx, p, iso: bool, account: Account) -> VMTemplate:
    """Validate the request and build the row (not yet added)."""
    root_owner = rules.is_root_account(account)
    fmt = rules.image_format(p.format, iso)
    hypervisor = None
    if not iso:
        hypervisor = rules.hypervisor(p.hypervisor)
        rules.check_format_for(hypervisor, fmt)
    url = rules.download_url(p.url, fmt)
    if p.ispublic and not root_owner and not ctx.setting("allow.public.user.templates"):
        raise InvalidParameter("Only private templates/ISO can be created.")
    name, text = p.name, p.displaytext or p.name
    rules.check_reserved_name(ctx, name, text)
    check_bits_and_arch(p)
    return VMTemplate(
        unique_name=uuid.uuid4().hex, name=name, display_text=text,
        type=rules.template_type(ctx, p.templatetype, bool(p.isrouting)), format=fmt,
        hypervisor_type=hypervisor,
        guest_os_id=guest_os_id(ctx, p, iso), account_id=account.id, domain_id=account.domain_id,
        public=bool(p.ispublic), featured=bool(p.isfeatured) and root_owner,  # only root admins feature
        password_enabled=bool(p.passwordenabled), bootable=p.bootable is not False if iso else True,
        extractable=bool(p.isextractable), url=url, checksum=rules.checksum(p.checksum),
        bits=p.bits or 64, arch=p.arch or "x86_64", state="Active")


def link_user_data(template: VMTemplate, p) -> None:
    if p.userdataid is not None and hasattr(template, "user_data_id"):
        template.user_data_id = p.userdataid.id
        template.user_data_link_policy = (p.userdatapolicy or "ALLOWOVERRIDE").upper()


def register(ctx, p, iso: bool) -> tuple[VMTemplate, list[int | None]]:
    """registerTemplate / registerIso: the row, its attributes and a waiting copy per target zone."""
    account = rules.owner(ctx, p.account, p.domainid)
    template = new_template(ctx, p, iso, account)
    zones = rules.target_zones(ctx, p.zoneid, p.zoneids, account)
    template.cross_zones = zones is None
    link_user_data(template, p)
    ctx.db.add(template)
    ctx.db.flush()
    ctx.db.add(TemplateFlags(template_id=template.id, enable_sshkey=bool(p.sshkeyenabled),
                             dynamically_scalable=bool(p.isdynamicallyscalable),
                             requires_hvm=p.requireshvm is not False, template_tag=p.templatetag,
                             direct_download=bool(p.directdownload)))
    save_details(ctx, template, map_to_dict(p.details))
    zone_ids = place(ctx, template, zones)
    ctx.event(f"{event_prefix(template)}.CREATE", f"{label(template)} {template.name} registered",
              resource_type=downloads.resource_type(template), resource_id=template.uuid,
              account_id=account.id, domain_id=account.domain_id)
    return template, zone_ids


def place(ctx, template: VMTemplate, zones: list[DataCenter] | None) -> list[int | None]:
    """A waiting store ref in each zone: on one store for private templates, on every store for public
    ones (upstream's allocation). With zones None (all zones) zones without a store are skipped."""
    targets = zones if zones is not None else list(ctx.db.scalars(
        select(DataCenter).where(DataCenter.removed.is_(None)).order_by(DataCenter.id)))
    placed = []
    for zone in targets:
        stores = rules.image_stores(ctx, zone.id)
        if not stores:
            if zones is not None:
                raise rules.no_store(template.name)
            continue
        for store in stores if template.public or template.featured else stores[:1]:
            ctx.db.add(TemplateStoreRef(template_id=template.id, store_id=store.id, zone_id=zone.id,
                                        download_state=downloads.NOT_DOWNLOADED, state="Allocated"))
        placed.append(zone.id)
    if not placed:
        raise rules.no_store(template.name)
    ctx.db.flush()
    return placed


def save_details(ctx, template: VMTemplate, details: dict[str, str]) -> None:
    for key, value in details.items():
        ctx.db.add(TemplateDetail(template_id=template.id, name=key, value=value))


def zones_of(ctx, template: VMTemplate) -> list[int | None]:
    return list(ctx.db.scalars(select(TemplateStoreRef.zone_id).where(
        TemplateStoreRef.template_id == template.id, TemplateStoreRef.state != "Destroyed")
        .distinct().order_by(TemplateStoreRef.zone_id)))


def first_view(ctx, template: VMTemplate, iso: bool, zone_id: int | None = None) -> dict:
    zones = zones_of(ctx, template)
    return views.template(ctx, template, zone_id if zone_id in zones or not zones else zones[0], iso)


# ---- update -------------------------------------------------------------------------------------

def flags_row(ctx, template: VMTemplate) -> TemplateFlags:
    """The template's flags row; seeded templates get one (with the defaults) on their first update."""
    row = ctx.db.get(TemplateFlags, template.id)
    if row is None:
        row = TemplateFlags(template_id=template.id, enable_sshkey=False, dynamically_scalable=False,
                            requires_hvm=True, sort_key=0, direct_download=False)
        ctx.db.add(row)
    return row


def update(ctx, template: VMTemplate, p, iso: bool) -> VMTemplate:
    check_kind(template, iso)
    check_bits_and_arch(p)
    for attr, value in (("name", p.name), ("display_text", p.displaytext), ("arch", p.arch)):
        if value:
            setattr(template, attr, value)
    if p.format and not iso:
        template.format = rules.image_format(p.format, False)
    if p.ostypeid is not None:
        template.guest_os_id = p.ostypeid.id
    for attr, value in (("password_enabled", p.passwordenabled), ("bootable", p.bootable)):
        if value is not None:
            setattr(template, attr, value)
    if p.templatetype:
        template.type = rules.template_type(ctx, p.templatetype, False)
    flags = flags_row(ctx, template)
    for attr, value in (("sort_key", p.sortkey), ("dynamically_scalable", p.isdynamicallyscalable),
                        ("requires_hvm", p.requireshvm), ("enable_sshkey", p.sshkeyenabled)):
        if value is not None:
            setattr(flags, attr, value)
    if p.cleanupdetails or p.details:
        ctx.db.execute(delete(TemplateDetail).where(TemplateDetail.template_id == template.id))
        save_details(ctx, template, map_to_dict(p.details))
    ctx.event(f"{event_prefix(template)}.UPDATE", f"{label(template)} {template.name} updated",
              resource_type=downloads.resource_type(template), resource_id=template.uuid,
              account_id=template.account_id, domain_id=template.domain_id)
    return template


# ---- delete -------------------------------------------------------------------------------------

def check_unused(ctx, template: VMTemplate) -> None:
    column = VMInstance.iso_id if template.format == "ISO" else VMInstance.template_id
    users = ctx.db.scalars(select(VMInstance.name).where(
        column == template.id, VMInstance.removed.is_(None), VMInstance.state.not_in(GONE_VM_STATES))).all()
    if users:
        raise ResourceInUse(f"Unable to delete {label(template).lower()} {template.name} because VM "
                            f"instances [{', '.join(users)}] are using it")


def delete_template(ctx, template: VMTemplate, zone: DataCenter | None, forced: bool, iso: bool) -> None:
    """Destroy the template's copies (in one zone, or everywhere); the last one gone removes it."""
    check_kind(template, iso)
    if template.type == "SYSTEM":
        raise InvalidParameter(f"Unable to delete the system template {template.name}")
    if not forced:
        check_unused(ctx, template)
    refs = list(ctx.db.scalars(select(TemplateStoreRef).where(
        TemplateStoreRef.template_id == template.id, TemplateStoreRef.state != "Destroyed")))
    if zone is not None:
        refs = [ref for ref in refs if ref.zone_id == zone.id]
        if not refs:
            raise InvalidParameter(f"{label(template)} {template.name} is not present in zone {zone.name}")
    gone_zones = set()
    for ref in refs:
        if ref.download_state == downloads.DOWNLOADED and ref.zone_id not in gone_zones:
            gone_zones.add(ref.zone_id)
            record_usage(ctx, f"{event_prefix(template)}.DELETE", account_id=template.account_id,
                         domain_id=template.domain_id, zone_id=ref.zone_id, resource=template,
                         resource_type=downloads.resource_type(template), template_id=template.id)
        ref.state = "Destroyed"
    ctx.db.flush()
    if not zones_of(ctx, template):
        template.removed, template.state = now(), "Inactive"
        ctx.db.execute(delete(TemplatePermission).where(TemplatePermission.template_id == template.id))
    where = f" from zone {zone.name}" if zone is not None else ""
    ctx.event(f"{event_prefix(template)}.DELETE", f"{label(template)} {template.name} deleted{where}",
              resource_type=downloads.resource_type(template), resource_id=template.uuid,
              account_id=template.account_id, domain_id=template.domain_id)


# ---- copy ---------------------------------------------------------------------------------------

def ready_in(ctx, template: VMTemplate, zone_id: int | None) -> bool:
    return any(ref.state == "Ready" for ref in views.zone_refs(ctx, template, zone_id))


def source_zone(ctx, template: VMTemplate, zone: DataCenter | None) -> DataCenter:
    if zone is None:
        zone_id = next((z for z in zones_of(ctx, template) if ready_in(ctx, template, z)), None)
        zone = ctx.db.get(DataCenter, zone_id) if zone_id is not None else None
    if zone is None or not ready_in(ctx, template, zone.id):
        where = f" in zone {zone.name}" if zone is not None else ""
        raise InvalidParameter(f"{label(template)} {template.name} is not ready{where}: nothing to copy from")
    return zone


def add_copies(ctx, template: VMTemplate, zone: DataCenter) -> list[tuple[int, int]]:
    """Store refs for one destination zone; answer (ref id, SSVM id) of those that can start now."""
    stores = rules.image_stores(ctx, zone.id)
    if not stores:
        raise rules.no_store(template.name)
    ssvm = downloads.running_ssvm(ctx, zone.id)
    started = []
    for store in stores if template.public or template.featured else stores[:1]:
        ref = TemplateStoreRef(template_id=template.id, store_id=store.id, zone_id=zone.id, state="Allocated",
                               download_state=downloads.IN_PROGRESS if ssvm else downloads.NOT_DOWNLOADED,
                               error_str=None if ssvm else downloads.waiting_text(ctx, zone.id))
        ctx.db.add(ref)
        ctx.db.flush()
        if ssvm is not None:
            started.append((ref.id, ssvm.id))
    return started


async def copy(ctx, template: VMTemplate, source: DataCenter | None, destinations: list[DataCenter],
               iso: bool) -> int:
    """Copy to other zones and wait for the copies whose zone's SSVM runs; answer the first zone's id."""
    check_kind(template, iso)
    if not destinations:
        raise InvalidParameter("Please specify valid destination zone(s).")
    source = source_zone(ctx, template, source)
    present = set(zones_of(ctx, template))
    started = []
    for zone in destinations:
        if zone.id == source.id:
            raise InvalidParameter("Please specify different source and destination zones.")
        if zone.id in present:
            continue  # already there: upstream answers success without copying again
        started += add_copies(ctx, template, zone)
        ctx.event(f"{event_prefix(template)}.COPY", f"{label(template)} {template.name} copied from zone "
                  f"{source.name} to zone {zone.name}", resource_type=downloads.resource_type(template),
                  resource_id=template.uuid, account_id=template.account_id, domain_id=template.domain_id)
    ctx.commit()
    for ref_id, ssvm_id in started:
        await downloads.download_now(ctx.server, ref_id, ssvm_id)
    ctx.db.expire_all()
    return destinations[0].id


# ---- extract ------------------------------------------------------------------------------------

def file_extension(fmt: str) -> str:
    return {"RAW": "img"}.get(fmt, fmt.lower())


def check_extractable(ctx, template: VMTemplate, mode: str | None) -> None:
    if not can_view(ctx, template):
        raise PermissionDenied(f"Account {ctx.caller.account_name} does not have permission to access "
                               f"{label(template).lower()} {template.uuid}")
    if template.type == "SYSTEM":
        raise InvalidParameter(f"Unable to extract the system template {template.name}")
    caller = ctx.caller
    if not (caller.is_root_admin or caller.is_system):
        if ctx.setting("disable.extraction"):
            raise PermissionDenied("Extraction has been disabled by admin")
        if not template.extractable:
            raise InvalidParameter(f"Unable to extract {label(template).lower()} id={template.uuid} as it's "
                                   "not extractable")
    if (mode or "").upper() != "HTTP_DOWNLOAD":
        raise InvalidParameter(f"Please specify a valid extract Mode {mode}; supported: HTTP_DOWNLOAD "
                               "(FTP_UPLOAD is not supported)")


def extract(ctx, template: VMTemplate, zone: DataCenter | None, mode: str | None, iso: bool) -> dict:
    """An HTTP download URL served by the zone's SSVM (upstream's /userdata/<uuid>.<ext> link)."""
    check_kind(template, iso)
    check_extractable(ctx, template, mode)
    zone = source_zone(ctx, template, zone)
    ssvm = downloads.running_ssvm(ctx, zone.id)
    if ssvm is None:
        raise ApiError(f"Unable to find a running secondary storage VM in zone {zone.name}")
    address = ssvm.public_ip_address or ssvm.private_ip_address
    url = f"http://{address}/userdata/{uuid.uuid4()}.{file_extension(template.format)}"
    ctx.event(f"{event_prefix(template)}.EXTRACT", f"{label(template)} {template.name} extracted: {url}",
              resource_type=downloads.resource_type(template), resource_id=template.uuid,
              account_id=template.account_id, domain_id=template.domain_id)
    owner = ctx.db.get(Account, template.account_id)
    return {"id": template.uuid, "name": template.name, "extractId": str(uuid.uuid4()),
            "accountid": owner.uuid if owner else None, "state": "DOWNLOAD_URL_CREATED",
            "status": "DOWNLOAD_URL_CREATED", "zoneid": zone.uuid, "zonename": zone.name,
            "extractMode": "HTTP_DOWNLOAD", "url": url, "created": now(), "uploadpercentage": 100}


# ---- launch permissions -------------------------------------------------------------------------

def set_flags(ctx, template: VMTemplate, p, iso: bool) -> None:
    caller = ctx.caller
    if p.ispublic is not None:
        if p.ispublic and not caller.is_admin and not ctx.setting("allow.public.user.templates"):
            raise InvalidParameter("Only private templates/ISO can be created.")
        template.public = p.ispublic
    if p.isfeatured is not None:
        if p.isfeatured and not caller.is_admin:
            raise InvalidParameter("Only admins can make a template or ISO featured")
        template.featured = p.isfeatured
    if p.isextractable is not None:
        if not iso and not (caller.is_root_admin or caller.is_system):
            raise InvalidParameter("Only ROOT admins are allowed to modify isExtractable attribute.")
        template.extractable = p.isextractable


def update_permissions(ctx, template: VMTemplate, p, iso: bool) -> None:
    check_kind(template, iso)
    if template.type == "SYSTEM":
        raise InvalidParameter(f"Unable to change the permissions of the system template {template.name}")
    set_flags(ctx, template, p, iso)
    operation = (p.op or "").lower()
    # projectids would name the projects' accounts; projects are not modelled by this command yet.
    if p.accounts or operation == "reset":
        if operation not in ("add", "remove", "reset"):
            raise InvalidParameter("Invalid operation on accounts, the operation must be either 'add' or "
                                   "'remove' in order to modify launch permissions.  Given operation is: "
                                   f"'{p.op}'")
        change_accounts(ctx, template, operation, p.accounts or [])
    ctx.event(f"{event_prefix(template)}.UPDATE", f"{label(template)} {template.name} permissions updated",
              resource_type=downloads.resource_type(template), resource_id=template.uuid,
              account_id=template.account_id, domain_id=template.domain_id)


def change_accounts(ctx, template: VMTemplate, operation: str, names: list[str]) -> None:
    shared = TemplatePermission.template_id == template.id
    if operation == "reset":
        ctx.db.execute(delete(TemplatePermission).where(shared))
        return
    # Upstream resolves the names in the template owner's domain.
    accounts = [account_in(ctx, name, template.domain_id) for name in names]
    existing = set(ctx.db.scalars(select(TemplatePermission.account_id).where(shared)))
    for account in accounts:
        if operation == "add" and account.id not in existing and account.id != template.account_id:
            ctx.db.add(TemplatePermission(template_id=template.id, account_id=account.id))
            existing.add(account.id)
        elif operation == "remove" and account.id in existing:
            ctx.db.execute(delete(TemplatePermission).where(
                shared, TemplatePermission.account_id == account.id))
            existing.discard(account.id)


def check_permission_listing(ctx, template: VMTemplate) -> None:
    """Anyone may read a public template's permissions; a private one's need access to its owner."""
    if not template.public:
        check_owner(ctx, template.account_id, template.domain_id)
