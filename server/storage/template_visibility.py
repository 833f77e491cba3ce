"""Who sees which templates and ISOs: the templatefilter semantics of listTemplates/listIsos, and the
access checks for commands that name a template (public, owned, shared through launch permissions)."""

from sqlalchemy import and_, false, func, not_, or_, select, true

from ..compute.peers import tag_filter
from ..core.errors import InvalidParameter, PermissionDenied
from ..core.listing import can_access_domain, paged, subtree_ids
from ..iam.models import Account, Domain
from . import template_rules as rules
from . import template_views as views
from .models import TemplatePermission, TemplateStoreRef, VMTemplate
from .template_models import TemplateFlags

FILTERS = ("featured", "self", "selfexecutable", "sharedexecutable", "executable", "community", "all")
# Filters that show only templates ready in the zone listed (upstream ListTemplatesCmd.listInReadyState).
READY_FILTERS = ("featured", "selfexecutable", "sharedexecutable", "community")


def label(template: VMTemplate) -> str:
    return "ISO" if template.format == "ISO" else "Template"


def check_kind(template: VMTemplate, iso: bool) -> VMTemplate:
    if iso and template.format != "ISO":
        raise InvalidParameter("Specified Template Id is not an ISO")
    if not iso and template.format == "ISO":
        raise InvalidParameter(f"Incorrect format {template.format} of the specified template id")
    return template


def can_view(ctx, template: VMTemplate) -> bool:
    caller = ctx.caller
    if caller.is_root_admin or caller.is_system or template.public:
        return True
    if template.account_id == caller.account_id:
        return True
    if caller.is_domain_admin and can_access_domain(ctx, template.domain_id):
        return True
    return ctx.db.scalar(select(TemplatePermission.id).where(
        TemplatePermission.template_id == template.id,
        TemplatePermission.account_id == caller.account_id).limit(1)) is not None


def account_in(ctx, name: str, domain_id: int) -> Account:
    account = ctx.db.scalars(select(Account).where(
        Account.account_name == name, Account.domain_id == domain_id, Account.removed.is_(None))).first()
    if account is None:
        domain = ctx.db.get(Domain, domain_id)
        raise InvalidParameter(f"Unable to find account {name} in domain "
                               f"{domain.uuid if domain else domain_id}")
    return account


def owner_scope(ctx, p, listall: bool) -> tuple[list[int] | None, list[int] | None]:
    """Whose templates count as the caller's own: (account ids, or domain ids, or neither = anyone's)."""
    caller = ctx.caller
    if p.domainid is not None:
        if not can_access_domain(ctx, p.domainid.id):
            raise PermissionDenied(f"Account {caller.account_name} does not have permission to access domain "
                                   f"{p.domainid.uuid}")
        if p.account:
            return [account_in(ctx, p.account, p.domainid.id).id], None
        return None, subtree_ids(ctx, p.domainid.id) if p.isrecursive else [p.domainid.id]
    if p.account and caller.is_admin:
        return [account_in(ctx, p.account, caller.domain_id).id], None
    if not caller.is_admin:
        return [caller.account_id], None
    if listall or p.listall:
        return (None, None) if caller.is_root_admin or caller.is_system else \
            (None, subtree_ids(ctx, caller.domain_id))
    return [caller.account_id], None


def shared_with(accounts: list[int] | None, domains: list[int] | None):
    if accounts is not None:
        sharers = accounts
    elif domains is not None:
        sharers = select(Account.id).where(Account.domain_id.in_(domains))
    else:
        return None
    granted = select(TemplatePermission.template_id).where(TemplatePermission.account_id.in_(sharers))
    return VMTemplate.id.in_(granted)


def filter_condition(ctx, p, name: str, accounts, domains):
    """The templatefilter semantics of upstream's template search."""
    T = VMTemplate
    owned = T.account_id.in_(accounts) if accounts is not None else \
        T.domain_id.in_(domains) if domains is not None else None
    public = T.public.is_(True)
    if name == "featured":
        return and_(public, T.featured.is_(True))
    if name == "community":
        return and_(public, not_(T.featured.is_(True)))
    if name in ("self", "selfexecutable"):
        if owned is not None:
            return owned
        caller_domain = ctx.caller.domain_id
        return T.domain_id.in_(subtree_ids(ctx, caller_domain) if p.isrecursive else [caller_domain])
    if name == "sharedexecutable":
        shared = shared_with(accounts, domains)
        return shared if shared is not None else false()
    if name == "executable":
        return public if owned is None else or_(public, owned)
    if ctx.caller.is_root_admin or ctx.caller.is_system:  # "all"
        return true()
    return or_(public, owned if owned is not None else false(), shared_with([ctx.caller.account_id], None))


def only_ready(ctx, p, name: str) -> bool:
    caller = ctx.caller
    account_specific = caller.is_admin and bool(p.account) and p.domainid is not None
    return name in READY_FILTERS or (name == "executable" and account_specific) or bool(p.isready)


def list_templates(ctx, p, name: str, iso: bool):
    """listTemplates / listIsos: one entry per (template, zone) holding a copy."""
    if name not in FILTERS:
        raise InvalidParameter(f"Invalid {'iso' if iso else 'template'}filter {name}; valid values are "
                               f"{', '.join(FILTERS)}")
    if name == "all" and not ctx.caller.is_admin:
        raise InvalidParameter("Filter all can be specified by admin only")
    T, R = VMTemplate, TemplateStoreRef
    live = true() if p.showremoved else R.state != "Destroyed"
    pairs = select(R.template_id, R.zone_id).where(live).distinct().subquery()
    query = (select(T, pairs.c.zone_id).join(pairs, pairs.c.template_id == T.id)
             .outerjoin(TemplateFlags, TemplateFlags.template_id == T.id)
             .where(T.format == "ISO" if iso else T.format != "ISO"))
    if not p.showremoved:
        query = query.where(T.removed.is_(None))
    if p.id is not None:
        if not can_view(ctx, check_kind(p.id, iso)):
            raise PermissionDenied(f"Account {ctx.caller.account_name} does not have permission to access "
                                   f"{label(p.id).lower()} {p.id.uuid}")
        query = query.where(T.id == p.id.id)  # an id overrides the filter, as upstream
    else:
        accounts, domains = owner_scope(ctx, p, listall=name == "all")
        query = query.where(filter_condition(ctx, p, name, accounts, domains))
    if name in ("selfexecutable", "featured"):
        query = query.where(T.type != "SYSTEM")
    if only_ready(ctx, p, name):
        query = query.where(select(R.id).where(R.template_id == T.id, R.state == "Ready",
                                               R.zone_id.is_not_distinct_from(pairs.c.zone_id)).exists())
    query = tag_filter(ctx, narrow(query, p, iso, pairs), T, "ISO" if iso else "Template", p.tags)
    order = (func.coalesce(TemplateFlags.sort_key, 0), T.id, pairs.c.zone_id)
    result = paged(ctx, p, query, lambda row, zone_id: (row, zone_id),
                   keyword_columns=(T.name, T.display_text), order_by=order)
    result.items = views.templates(ctx, result.items, iso)
    return result


def narrow(query, p, iso: bool, pairs):
    """The plain filters: name, ids, zone, hypervisor, type, arch, bootable, public."""
    T = VMTemplate
    if p.name:
        query = query.where(T.name == p.name)
    if p.ids:
        query = query.where(T.id.in_([row.id for row in p.ids]))
    if p.zoneid is not None:
        query = query.where(pairs.c.zone_id == p.zoneid.id)
    if p.hypervisor and not iso:
        known = next((h for h in rules.HYPERVISORS if h.lower() == p.hypervisor.lower()), p.hypervisor)
        query = query.where(T.hypervisor_type == known)
    if p.templatetype:
        query = query.where(T.type == p.templatetype.upper())
    if p.arch:
        query = query.where(T.arch == p.arch)
    if iso and p.bootable is not None:
        query = query.where(T.bootable.is_(p.bootable))
    if iso and p.ispublic is not None:
        query = query.where(T.public.is_(p.ispublic))
    return query
