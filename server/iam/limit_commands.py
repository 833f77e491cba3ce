"""The resource limit commands: listResourceLimits, updateResourceLimit, updateResourceCount."""

from sqlalchemy import select

from ..core.errors import InvalidParameter, PermissionDenied
from ..core.listing import can_access_domain, check_owner, paged_list, subtree_ids
from ..core.params import INTEGER, LONG, STRING, UUID, Param
from ..core.registry import ADMINS, command
from ..core.render import ListResult
from ..core.responses import describe
from . import limits
from .models import Account, Domain, ResourceLimit
from .service import find_account

SYSTEM_ACCOUNT_ID = limits.SYSTEM_ACCOUNT_ID


def check_domain_access(ctx, domain: Domain) -> None:
    if not can_access_domain(ctx, domain.id):
        raise PermissionDenied(f"Account {ctx.caller.account_name} does not have permission to operate "
                               f"within domain id={domain.uuid}")


def named_account(ctx, name: str, domain: Domain) -> Account:
    acct = find_account(ctx, name, domain)
    if acct is None:
        raise InvalidParameter(f"Unable to find account by name {name} in domain {domain.uuid}")
    check_owner(ctx, acct.id, acct.domain_id)
    return acct


def selected_types(p) -> list:
    """The types asked for by `resourcetype` (number) and/or `resourcetypename`, else all of them."""
    chosen = list(limits.TYPES)
    if p.resourcetype is not None:
        chosen = [t for t in chosen if t.number == p.resourcetype]
        if not chosen:
            raise InvalidParameter("Please specify valid resource type")
    if p.resourcetypename:
        chosen = [t for t in chosen if t.name == p.resourcetypename.lower()]
        if not chosen:
            raise InvalidParameter(f"Please specify a valid resource type name {p.resourcetypename}")
    return chosen


def limit_view(rtype, maximum: int, domain: Domain, account: Account | None = None) -> dict:
    answer = {"account": account.account_name} if account is not None else {}
    return answer | {"domainid": domain.uuid, "domain": domain.name, "resourcetype": str(rtype.number),
                     "resourcetypename": rtype.name, "max": maximum}


def account_limits(ctx, account: Account, types) -> list[dict]:
    rows = limits.explicit_limits(ctx, account_id=account.id)
    domain = ctx.db.get(Domain, account.domain_id)
    return [limit_view(t, limits.account_limit(ctx, account, t, rows), domain, account) for t in types]


def domain_limits(ctx, domain: Domain, types) -> list[dict]:
    rows = limits.explicit_limits(ctx, domain_id=domain.id)
    return [limit_view(t, limits.domain_limit(ctx, domain.id, t, rows), domain) for t in types]


def limit_by_id(ctx, limit_id: int) -> list[dict]:
    row = ctx.db.get(ResourceLimit, limit_id)
    rtype = limits.BY_NAME.get(row.type) if row is not None else None
    if rtype is None:
        return []
    if row.account_id is not None:
        account = ctx.db.get(Account, row.account_id)
        check_owner(ctx, account.id, account.domain_id)
        return [limit_view(rtype, row.max, ctx.db.get(Domain, account.domain_id), account)]
    domain = ctx.db.get(Domain, row.domain_id)
    check_domain_access(ctx, domain)
    return [limit_view(rtype, row.max, domain)]


@command("listResourceLimits", response="resourcelimit", listing="owned", params=[
    Param("id", LONG, description="Lists resource limits by ID."),
    Param("resourcetype", INTEGER,
          description="Type of resource. Values are 0, 1, 2, 3, 4, 6, 7, 8, 9, 10 and 11. 0 - Instance, "
                      "1 - IP, 2 - Volume, 3 - Snapshot, 4 - Template, 5 - Project, 6 - Network, 7 - VPC, "
                      "8 - CPU, 9 - Memory, 10 - PrimaryStorage, 11 - SecondaryStorage"),
    Param("resourcetypename", STRING, description="Type of resource (wins over resourceType if both are "
                                                  "provided). Values are: user_vm, public_ip, volume, "
                                                  "snapshot, template, project, network, vpc, cpu, memory, "
                                                  "primary_storage, secondary_storage"),
    Param("projectid", UUID, description="list objects by project"),
])
def list_resource_limits(ctx, p):
    """Lists resource limits."""
    caller = ctx.caller
    types = selected_types(p)
    if p.id is not None:
        return paged_list(ctx, p, limit_by_id(ctx, p.id))
    if not (caller.is_admin or caller.is_system):
        items = account_limits(ctx, ctx.db.get(Account, caller.account_id), types)
    elif p.domainid is not None:
        check_domain_access(ctx, p.domainid)
        items = (account_limits(ctx, named_account(ctx, p.account, p.domainid), types) if p.account
                 else domain_limits(ctx, p.domainid, types))
    elif p.account:
        own_domain = ctx.db.get(Domain, caller.domain_id)
        items = account_limits(ctx, named_account(ctx, p.account, own_domain), types)
    else:
        items = account_limits(ctx, ctx.db.get(Account, caller.account_id), types)
    return paged_list(ctx, p, items)


def check_account_update(ctx, account: Account, maximum: int) -> None:
    caller = ctx.caller
    if account.id == SYSTEM_ACCOUNT_ID:
        raise InvalidParameter("Can't update system account")
    if limits.is_unlimited_account(account) and maximum != limits.UNLIMITED:
        raise InvalidParameter("Only -1 limit is supported for Root Admin accounts")
    if caller.is_domain_admin and caller.account_id == account.id:
        # Domain admins would otherwise raise their own ceiling.
        raise PermissionDenied(f"Unable to update resource limit for their own account {account.uuid}, "
                               "permission denied")


def check_domain_update(ctx, domain: Domain, rtype, maximum: int) -> None:
    caller = ctx.caller
    check_domain_access(ctx, domain)
    if domain.id == limits.ROOT_DOMAIN_ID:
        raise PermissionDenied(f"Cannot update resource limit for ROOT domain {domain.uuid}, "
                               "permission denied")
    if caller.is_domain_admin and caller.domain_id == domain.id:
        raise PermissionDenied(f"Unable to update resource limit for domain {domain.uuid}, permission denied")
    parent = ctx.db.get(Domain, domain.parent_id)
    ceiling = limits.domain_limit(ctx, parent.id, rtype)
    if ceiling >= 0 and maximum > ceiling:
        raise InvalidParameter(f"Domain {domain.name}(id: {parent.uuid}) has maximum allowed resource limit "
                               f"{ceiling} for {rtype.name}, please specify a value less than or equal to "
                               f"{ceiling}")


def save_limit(ctx, rtype, maximum: int, account: Account | None, domain: Domain) -> None:
    query = select(ResourceLimit).where(ResourceLimit.type == rtype.name)
    if account is not None:
        query = query.where(ResourceLimit.account_id == account.id)
    else:
        query = query.where(ResourceLimit.domain_id == domain.id, ResourceLimit.account_id.is_(None))
    row = ctx.db.scalars(query).first()
    if row is None:
        ctx.db.add(ResourceLimit(type=rtype.name, max=maximum, account_id=account.id if account else None,
                                 domain_id=None if account else domain.id))
    else:
        row.max = maximum


@command("updateResourceLimit", response="resourcelimit", roles=ADMINS, params=[
    Param("resourcetype", INTEGER, required=True,
          description="Type of resource to update. Values are 0, 1, 2, 3, 4, 6, 7, 8, 9, 10 and 11."),
    Param("max", LONG, description="Maximum resource limit."),
    Param("account", STRING, description="Update resource for a specified account. Must be used with the "
                                         "domainId parameter."),
    Param("domainid", UUID, entity=Domain, description="Update resource limits for all accounts in specified "
                                                       "domain. If used with the account parameter, updates "
                                                       "resource limits for a specified account in specified "
                                                       "domain."),
    Param("projectid", UUID, description="Update resource limits for project"),
])
def update_resource_limit(ctx, p):
    """Updates resource limits for an account or domain."""
    maximum = limits.UNLIMITED if p.max is None else p.max
    if maximum < limits.UNLIMITED:
        raise InvalidParameter("Please specify either '-1' for an infinite limit, or a limit that is at "
                               "least '0'.")
    rtype = limits.BY_NUMBER.get(p.resourcetype)
    if rtype is None:
        raise InvalidParameter("Please specify valid resource type")
    if p.account and p.domainid is None:
        raise InvalidParameter("Account must be specified with domainId parameter")
    if p.domainid is None:
        raise InvalidParameter("AccountId or domainId have to be specified in order to update resource limit")
    account = named_account(ctx, p.account, p.domainid) if p.account else None
    if account is not None:
        check_account_update(ctx, account, maximum)
    else:
        check_domain_update(ctx, p.domainid, rtype, maximum)
    save_limit(ctx, rtype, maximum, account, p.domainid)
    owner = f"account {account.account_name}" if account else f"domain {p.domainid.name}"
    ctx.event("RESOURCE.LIMIT.UPDATE", f"Resource limit of {rtype.name} for {owner} set to {maximum}",
              resource_type="Account" if account else "Domain",
              resource_id=account.uuid if account else p.domainid.uuid)
    return limit_view(rtype, maximum, p.domainid, account)


# ---- counts ---------------------------------------------------------------------------------

def count_view(rtype, value: int, domain: Domain, account: Account | None = None) -> dict:
    answer = {"account": account.account_name} if account is not None else {}
    return answer | {"domainid": domain.uuid, "domain": domain.name, "resourcetype": str(rtype.number),
                     "resourcetypename": rtype.name, "resourcecount": value}


def recount_account(ctx, account: Account, rtype) -> int:
    counted = limits.recount(ctx, rtype, [account.id])
    if counted is None:  # nothing to count from: keep what reservations recorded
        return limits.stored_count(ctx, rtype, account.id, account.domain_id)
    value = counted.get(account.id, 0)
    limits.set_count(ctx, rtype, account.id, account.domain_id, value)
    return value


def recount_domain(ctx, domain: Domain, rtype) -> int:
    """Recount every account and domain of the subtree; answer the domain's total."""
    domains = subtree_ids(ctx, domain.id)
    accounts = ctx.db.execute(select(Account.id, Account.domain_id).where(
        Account.domain_id.in_(domains), Account.removed.is_(None))).all()
    counted = limits.recount(ctx, rtype, [a for a, _ in accounts])
    if counted is None:
        return limits.stored_count(ctx, rtype, None, domain.id)
    for account_id, domain_id in accounts:
        limits.set_count(ctx, rtype, account_id, domain_id, counted.get(account_id, 0))
    totals = {}
    for sub in domains:
        below = set(subtree_ids(ctx, sub))
        totals[sub] = sum(counted.get(a, 0) for a, d in accounts if d in below)
        limits.set_count(ctx, rtype, None, sub, totals[sub])
    return totals[domain.id]


@command("updateResourceCount", response="resourcecount", roles=ADMINS, params=[
    Param("domainid", UUID, entity=Domain, required=True,
          description="If account parameter specified then updates resource counts for a specified account "
                      "in this domain else update resource counts for all accounts & child domains in "
                      "specified domain."),
    Param("account", STRING, description="Update resource count for a specified account. Must be used with "
                                         "the domainId parameter."),
    Param("resourcetype", INTEGER, description="Type of resource to update. If specifies valid values are 0, "
                                               "1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 11. If not specified will "
                                               "update all resource counts"),
    Param("projectid", UUID, description="Update resource limits for project"),
])
def update_resource_count(ctx, p):
    """Recalculate and update resource count for an account or domain."""
    types = selected_types(p)
    domain = p.domainid
    check_domain_access(ctx, domain)
    account = named_account(ctx, p.account, domain) if p.account else None
    if account is not None:
        items = [count_view(t, recount_account(ctx, account, t), domain, account) for t in types]
    else:
        items = [count_view(t, recount_domain(ctx, domain, t), domain) for t in types]
    return ListResult(items, len(items))


describe("resourcelimit", {
    "account": "the account of the resource limit", "domainid": "the domain ID of the resource limit",
    "domain": "the domain name of the resource limit",
    "resourcetype": "resource type. Values include 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11. See the resourceType "
                    "parameter for more information on these values.",
    "resourcetypename": "resource type name. Values include user_vm, public_ip, volume, snapshot, template, "
    "project, network, vpc, cpu, memory, primary_storage, secondary_storage.",
    "max": "the maximum number of the resource. A -1 means the resource currently has no limit.",
})
describe("resourcecount", {
    "account": "the account for which resource count's are updated", "domainid": "the domain ID for which "
    "resource count's are updated", "domain": "the domain name for which resource count's are updated",
    "resourcetype": "resource type. Values include 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11.",
    "resourcetypename": "resource type name.", "resourcecount": "The resource count",
})
