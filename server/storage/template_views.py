"""Template and ISO rows → `template` / `iso` response objects: one per (template, zone), as upstream."""

from collections import defaultdict

from sqlalchemy import select

from ..compute.models import UserData
from ..compute.peers import tags_for
from ..core.responses import describe
from ..iam.models import Account, Domain
from ..infra.models import DataCenter
from .models import GuestOs, ImageStore, TemplatePermission, TemplateStoreRef, VMTemplate
from .template_downloads import DOWNLOAD_ERROR, DOWNLOADED, IN_PROGRESS
from .template_models import DEFAULT_FLAGS, TemplateDetail, TemplateFlags
from .template_rules import plain_digest


def zone_refs(ctx, template: VMTemplate, zone_id: int | None) -> list[TemplateStoreRef]:
    return list(ctx.db.scalars(select(TemplateStoreRef).where(
        TemplateStoreRef.template_id == template.id, TemplateStoreRef.zone_id.is_not_distinct_from(zone_id),
        TemplateStoreRef.state != "Destroyed").order_by(TemplateStoreRef.id)))


def best_ref(refs: list[TemplateStoreRef]) -> TemplateStoreRef | None:
    """The copy a zone's entry describes: a ready one, else the most advanced download."""
    order = {DOWNLOADED: 0, IN_PROGRESS: 1, DOWNLOAD_ERROR: 2}
    return min(refs, key=lambda ref: (ref.state != "Ready", order.get(ref.download_state, 3), ref.id),
               default=None)


def status(ref: TemplateStoreRef | None, iso: bool) -> str | None:
    """The `status` text: upstream's wording for each download state; the reason while waiting or failed."""
    if ref is None:
        return None
    if ref.download_state == DOWNLOADED:
        return "Successfully Installed" if iso else "Download Complete"
    if ref.download_state == IN_PROGRESS:
        if ref.download_pct >= 100:
            return "Installing ISO" if iso else "Installing Template"
        return f"{ref.download_pct}% Downloaded"
    return ref.error_str or "Not Downloaded"


def _by_id(ctx, model, ids) -> dict:
    ids = {i for i in ids if i is not None}
    return {row.id: row for row in ctx.db.scalars(select(model).where(model.id.in_(ids)))} if ids else {}


class Lookups:
    """Everything a page of (template, zone) entries refers to, read in a fixed number of queries."""

    def __init__(self, ctx, entries: list[tuple[VMTemplate, int | None]], iso: bool = False):
        templates = {row.id: row for row, _ in entries}
        ids = list(templates)
        self.tags = tags_for(ctx, "ISO" if iso else "Template", ids)
        self.refs: dict[tuple[int, int | None], list[TemplateStoreRef]] = defaultdict(list)
        for ref in ctx.db.scalars(select(TemplateStoreRef).where(
                TemplateStoreRef.template_id.in_(ids), TemplateStoreRef.state != "Destroyed")
                .order_by(TemplateStoreRef.id)):
            self.refs[(ref.template_id, ref.zone_id)].append(ref)
        self.zones = _by_id(ctx, DataCenter, (zone_id for _, zone_id in entries))
        self.stores = _by_id(ctx, ImageStore, (r.store_id for refs in self.refs.values() for r in refs))
        self.guest_os = _by_id(ctx, GuestOs, (t.guest_os_id for t in templates.values()))
        self.accounts = _by_id(ctx, Account, (t.account_id for t in templates.values()))
        self.domains = _by_id(ctx, Domain, (t.domain_id for t in templates.values()))
        self.user_data = _by_id(ctx, UserData, (getattr(t, "user_data_id", None) for t in templates.values()))
        self.flags = {f.template_id: f for f in ctx.db.scalars(
            select(TemplateFlags).where(TemplateFlags.template_id.in_(ids)))}
        self.sources = _by_id(ctx, VMTemplate, (f.source_template_id for f in self.flags.values()))
        self.details: dict[int, dict[str, str]] = defaultdict(dict)
        for detail in ctx.db.scalars(select(TemplateDetail).where(TemplateDetail.template_id.in_(ids))
                                     .order_by(TemplateDetail.id)):
            self.details[detail.template_id][detail.name] = detail.value


def templates(ctx, entries: list[tuple[VMTemplate, int | None]], iso: bool = False) -> list[dict]:
    lookups = Lookups(ctx, entries, iso) if entries else None
    return [template(ctx, row, zone_id, iso, lookups) for row, zone_id in entries]


def download_details(lookups: Lookups, refs: list[TemplateStoreRef]) -> list[dict]:
    return [{"datastore": lookups.stores[ref.store_id].name, "downloadPercent": str(ref.download_pct),
             "downloadState": ref.download_state} for ref in refs if ref.store_id in lookups.stores]


def owner_fields(lookups: Lookups, template: VMTemplate) -> dict:
    account, domain = lookups.accounts.get(template.account_id), lookups.domains.get(template.domain_id)
    return {"account": account.account_name if account else None,
            "accountid": account.uuid if account else None,
            "domain": domain.name if domain else None, "domainid": domain.uuid if domain else None}


def user_data_fields(lookups: Lookups, template: VMTemplate) -> dict:
    row = lookups.user_data.get(getattr(template, "user_data_id", None))
    if row is None:
        return {}
    return {"userdataid": row.uuid, "userdataname": row.name, "userdataparams": row.params,
            "userdatapolicy": getattr(template, "user_data_link_policy", None) or "ALLOWOVERRIDE"}


def may_see_url(ctx, template: VMTemplate) -> bool:
    caller = ctx.caller
    return caller.is_admin or caller.is_system or caller.account_id == template.account_id


def template(ctx, row: VMTemplate, zone_id: int | None, iso: bool = False,
             lookups: Lookups | None = None) -> dict:
    lookups = lookups or Lookups(ctx, [(row, zone_id)], iso)
    refs = lookups.refs.get((row.id, zone_id), [])
    ref = best_ref(refs)
    zone, guest_os = lookups.zones.get(zone_id), lookups.guest_os.get(row.guest_os_id)
    flags = lookups.flags.get(row.id, DEFAULT_FLAGS)
    source = lookups.sources.get(flags.source_template_id)
    answer = {
        "id": row.uuid, "name": row.name, "displaytext": row.display_text, "ispublic": row.public,
        "created": (ref.created if ref is not None and ref.created else row.created),
        "isready": any(r.state == "Ready" for r in refs), "passwordenabled": row.password_enabled,
        "format": row.format, "isfeatured": row.featured, "crossZones": row.cross_zones,
        "ostypeid": guest_os.uuid if guest_os else None,
        "ostypename": guest_os.display_name if guest_os else None,
        "zoneid": zone.uuid if zone else None, "zonename": zone.name if zone else None,
        "status": status(ref, iso), "size": row.size or (ref.size if ref is not None else None) or None,
        "templatetype": row.type, "hypervisor": None if iso else row.hypervisor_type,
        "checksum": plain_digest(row.checksum), "sshkeyenabled": flags.enable_sshkey,
        "isextractable": row.extractable and row.type != "SYSTEM",
        "isdynamicallyscalable": flags.dynamically_scalable, "bootable": row.bootable,
        "details": lookups.details.get(row.id) or None,
        "tags": lookups.tags.get(row.id, []), "requireshvm": flags.requires_hvm, "bits": row.bits,
        "arch": row.arch,
        "templatetag": flags.template_tag, "directdownload": flags.direct_download, "deployasis": False,
        "downloaddetails": download_details(lookups, refs), "url": row.url if may_see_url(ctx, row) else None,
        "sourcetemplateid": source.uuid if source else None, "hasannotations": False, "removed": row.removed,
    }
    return {**answer, **owner_fields(lookups, row), **user_data_fields(lookups, row)}


def permissions(ctx, row: VMTemplate) -> dict:
    names = ctx.db.scalars(select(Account.account_name).join(
        TemplatePermission, TemplatePermission.account_id == Account.id).where(
        TemplatePermission.template_id == row.id, Account.removed.is_(None))
        .order_by(Account.account_name)).all()
    domain = ctx.db.get(Domain, row.domain_id)
    return {"id": row.uuid, "ispublic": row.public, "domainid": domain.uuid if domain else None,
            "account": list(names), "projectids": []}


TEMPLATE_FIELDS = describe("template", {
    "id": "the template ID", "name": "the template name", "displaytext": "the template display text",
    "ispublic": "true if this template is a public template, false otherwise", "created": "the date this "
    "template was created", "isready": "true if the template is ready to be deployed from, false otherwise.",
    "passwordenabled": "true if the reset password feature is enabled, false otherwise", "format": "the "
    "format of the template.", "isfeatured": "true if this template is a featured template, false otherwise",
    "crossZones": "true if the template is managed across all Zones, false otherwise", "ostypeid": "the ID "
    "of the OS type for this template.", "ostypename": "the name of the OS type for this template.", "zoneid":
    "the ID of the zone for this template", "zonename": "the name of the zone for this template", "status":
    "the status of the template", "size": "the size of the template", "templatetype": "the type of the "
    "template", "hypervisor": "the hypervisor on which the template runs", "checksum": "checksum of the "
    "template", "sshkeyenabled": "true if template is sshkey enabled, false "
                                 "otherwise", "isextractable": "true "
    "if the template is extractable, false otherwise", "isdynamicallyscalable": "true if template contains "
    "XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory", "bootable": "true if the ISO is "
    "bootable, false otherwise", "details": "additional key/value details tied with template", "tags": "the "
    "list of resource tags associated", "requireshvm": "true if template requires HVM enabled, false "
    "otherwise", "bits": "the processor bit size", "arch": "CPU Arch of the template", "templatetag": "the "
    "tag of this template", "directdownload": "KVM Only: true if template is directly downloaded to Primary "
    "Storage bypassing Secondary Storage", "deployasis": "VMware only: true if template is deployed without "
    "orchestrating disks and networks but \"as-is\" defined in the template.", "downloaddetails": "Lists the "
    "download progress of a template across all secondary storages", "url": "the URL which the template/iso "
    "is registered from", "sourcetemplateid": "the template ID of the parent template if present",
    "hasannotations": "whether this template has annotations", "removed": "the date this template was "
                                                                          "removed",
    "account": "the account name to which the template belongs", "accountid": "the account id to which the "
    "template belongs", "domain": "the name of the domain to which the template belongs", "domainid": "the "
    "ID of the domain to which the template "
    "belongs", "userdataid": "the id of userdata linked to this template",
    "userdataname": "the name of userdata linked to this template", "userdataparams": "list of parameters "
    "which contains the list of keys or placeholders that are present in userdata", "userdatapolicy":
    "userdata override policy with the userdata provided while deploying VM",
})
describe("iso", TEMPLATE_FIELDS)
describe("templatepermission", {
    "id": "the template ID", "ispublic": "true if this template is a public template, false otherwise",
    "domainid": "the ID of the domain to which the template belongs", "account": "the list of accounts the "
    "template is available for", "projectids": "the list of projects the template is available for",
})
