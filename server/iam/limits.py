"""Resource limits: how much of each resource type an account (and every domain above it) may use.

Other modules call the service API:

    reserve(ctx, account_id, "volume")          # before creating the row; 532 when over a limit
    reserve(ctx, account_id, "primary_storage", size_in_bytes)
    release(ctx, account_id, "volume")          # after destroying it

Units: counts are what upstream counts — items, CPU cores, memory in MiB and storage in bytes; limits
are in the API's units, GiB for the storage types (`ResourceType.unit` converts).

Counts live in `resource_count`: one row per type for each account (account_id and its domain_id set,
so the unique constraint holds) and one per type for each domain (account_id NULL). A reservation
raises the account row and every domain row up to ROOT with conditional UPDATEs
(`count = count + n WHERE count + n <= max`), so two concurrent reservations can never both take the
last slot: the database serialises the UPDATEs on the row and the second sees the first's count.
A missing row is created on first use, initialised by recounting the tables that exist.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, case, func, select, update

from ..core.auth import SYSTEM_ACCOUNT_ID
from ..core.context import Context
from ..core.db import core, prebuilt
from ..core.errors import InvalidParameter, ResourceLimitExceeded
from ..core.listing import domain_paths, subtree_ids
from .models import ADMIN_ACCOUNT, PROJECT_ACCOUNT, Account, Domain, ResourceCount, ResourceLimit

GIB = 1024**3
MIB = 1024**2
ROOT_DOMAIN_ID = 1
UNLIMITED = -1


@dataclass(frozen=True, slots=True)
class ResourceType:
    number: int  # upstream's ordinal, answered as `resourcetype`
    name: str  # upstream's name, answered as `resourcetypename`
    setting: str  # suffix of the max.account.* / max.domain.* / max.project.* defaults
    unit: int = 1  # counted units per limit unit (bytes per GiB for storage)


TYPES = (
    ResourceType(0, "user_vm", "user.vms"),
    ResourceType(1, "public_ip", "public.ips"),
    ResourceType(2, "volume", "volumes"),
    ResourceType(3, "snapshot", "snapshots"),
    ResourceType(4, "template", "templates"),
    ResourceType(5, "project", "projects"),
    ResourceType(6, "network", "networks"),
    ResourceType(7, "vpc", "vpcs"),
    ResourceType(8, "cpu", "cpus"),
    ResourceType(9, "memory", "memory"),
    ResourceType(10, "primary_storage", "primary.storage", GIB),
    ResourceType(11, "secondary_storage", "secondary.storage", GIB),
    ResourceType(12, "backup", "backups"),
    ResourceType(13, "backup_storage", "backup.storage", GIB),
    ResourceType(14, "bucket", "buckets"),
    ResourceType(15, "object_storage", "object.storage", GIB),
)
BY_NAME = {t.name: t for t in TYPES}
BY_NUMBER = {t.number: t for t in TYPES}


def resource_type(value: "ResourceType | str | int") -> ResourceType:
    if isinstance(value, ResourceType):
        return value
    found = BY_NUMBER.get(value) if isinstance(value, int) else BY_NAME.get(value)
    if found is None:
        raise InvalidParameter("Please specify valid resource type")
    return found


# ---- limits ---------------------------------------------------------------------------------

def default_limit(ctx: Context, scope: str, rtype: ResourceType) -> int:
    name = f"max.{scope}.{rtype.setting}"
    if name not in ctx.server.config.settings:
        return UNLIMITED  # e.g. max.project.projects: projects don't own projects
    return int(ctx.setting(name))


def is_unlimited_account(account: Account) -> bool:
    """The system and root admin accounts are never limited (upstream)."""
    return account.id == SYSTEM_ACCOUNT_ID or account.type == ADMIN_ACCOUNT


def explicit_limits(ctx: Context, *, account_id: int | None = None,
                    domain_id: int | None = None) -> dict[str, ResourceLimit]:
    query = select(ResourceLimit)
    if account_id is not None:
        query = query.where(ResourceLimit.account_id == account_id)
    else:
        query = query.where(ResourceLimit.domain_id == domain_id, ResourceLimit.account_id.is_(None))
    return {row.type: row for row in ctx.db.scalars(query)}


def account_limit(ctx: Context, account: Account, rtype: ResourceType, rows=None) -> int:
    """The account's limit in API units: its own row, else the default for its kind."""
    if is_unlimited_account(account):
        return UNLIMITED
    rows = explicit_limits(ctx, account_id=account.id) if rows is None else rows
    if rtype.name in rows:
        return rows[rtype.name].max
    return default_limit(ctx, "project" if account.type == PROJECT_ACCOUNT else "account", rtype)


def domain_limit(ctx: Context, domain_id: int, rtype: ResourceType, rows=None) -> int:
    """The domain's limit in API units: its own row, else unlimited for ROOT, else the default."""
    rows = explicit_limits(ctx, domain_id=domain_id) if rows is None else rows
    if rtype.name in rows:
        return rows[rtype.name].max
    return UNLIMITED if domain_id == ROOT_DOMAIN_ID else default_limit(ctx, "domain", rtype)


def ancestry(ctx: Context, domain_id: int) -> list[int]:
    """The domain and its parents up to ROOT, nearest first (a parent's path prefixes its child's)."""
    paths = domain_paths(ctx)
    own = paths[domain_id][0]
    chain = [d for d, (path, _) in paths.items() if own.startswith(path)]
    return sorted(chain, key=lambda d: len(paths[d][0]), reverse=True)


# ---- counting from the tables ---------------------------------------------------------------

# type name → function(ctx, account ids) → {account id: count}. Modules owning a resource register
# theirs (`register_counter("vpc", count_vpcs)`); a type without one keeps the count reservations made.
COUNTERS: dict[str, Callable[[Context, list[int]], dict[int, int]]] = {}


def register_counter(type_name: str, counter: Callable[[Context, list[int]], dict[int, int]]) -> None:
    COUNTERS[resource_type(type_name).name] = counter


def grouped(ctx: Context, model, value, account_ids: list[int], *where) -> dict[int, int]:
    query = (select(model.account_id, value).where(model.account_id.in_(account_ids), *where)
             .group_by(model.account_id))
    return {account_id: int(total or 0) for account_id, total in ctx.db.execute(query)}


def _vm_counter(value):
    def count(ctx, account_ids):
        from ..compute.models import USER_VM, VMInstance

        gone = ("Destroyed", "Expunging", "Expunged", "Error")
        return grouped(ctx, VMInstance, value(VMInstance), account_ids, VMInstance.type == USER_VM,
                       VMInstance.state.not_in(gone), VMInstance.removed.is_(None))
    return count


def _volume_counter(value):
    def count(ctx, account_ids):
        from ..storage.models import Volume

        return grouped(ctx, Volume, value(Volume), account_ids, Volume.removed.is_(None),
                       Volume.state.not_in(("Destroy", "Expunging", "Expunged")))
    return count


def _count_snapshots(ctx, account_ids):
    from ..storage.models import Snapshot

    return grouped(ctx, Snapshot, func.count(), account_ids, Snapshot.removed.is_(None),
                   Snapshot.state != "Destroyed")


def _count_templates(ctx, account_ids):
    from ..storage.models import VMTemplate

    return grouped(ctx, VMTemplate, func.count(), account_ids, VMTemplate.removed.is_(None),
                   VMTemplate.type == "USER")


def _count_secondary_storage(ctx, account_ids):
    from ..storage.models import Snapshot, VMTemplate

    templates = grouped(ctx, VMTemplate, func.sum(VMTemplate.size), account_ids,
                        VMTemplate.removed.is_(None), VMTemplate.type == "USER")
    snapshots = grouped(ctx, Snapshot, func.sum(Snapshot.physical_size), account_ids,
                        Snapshot.removed.is_(None), Snapshot.state != "Destroyed")
    return {a: templates.get(a, 0) + snapshots.get(a, 0) for a in set(templates) | set(snapshots)}


def _count_public_ips(ctx, account_ids):
    from ..infra.models import PublicIp

    return grouped(ctx, PublicIp, func.count(), account_ids, PublicIp.state == "Allocated",
                   PublicIp.is_system.is_(False), PublicIp.removed.is_(None))


def _count_networks(ctx, account_ids):
    from ..network.models import Network

    return grouped(ctx, Network, func.count(), account_ids, Network.removed.is_(None),
                   Network.traffic_type == "Guest", Network.acl_type == "Account", Network.state != "Destroy")


register_counter("user_vm", _vm_counter(lambda vm: func.count()))
register_counter("cpu", _vm_counter(lambda vm: func.sum(vm.cpus)))
register_counter("memory", _vm_counter(lambda vm: func.sum(vm.ram) / MIB))
register_counter("volume", _volume_counter(lambda v: func.count()))
register_counter("primary_storage", _volume_counter(lambda v: func.sum(v.size)))
register_counter("snapshot", _count_snapshots)
register_counter("template", _count_templates)
register_counter("secondary_storage", _count_secondary_storage)
register_counter("public_ip", _count_public_ips)
register_counter("network", _count_networks)


def recount(ctx: Context, rtype: ResourceType, account_ids: list[int]) -> dict[int, int] | None:
    """Usage per account from the tables, or None when nothing counts this type yet."""
    counter = COUNTERS.get(rtype.name)
    if counter is None or not account_ids:
        return None if counter is None else {}
    return counter(ctx, account_ids)


def accounts_below(ctx: Context, domain_id: int) -> list[int]:
    return list(ctx.db.scalars(select(Account.id).where(Account.domain_id.in_(subtree_ids(ctx, domain_id)),
                                                        Account.removed.is_(None))))


# ---- count rows -----------------------------------------------------------------------------

def count_rows(ctx: Context, rtype: ResourceType, account: Account, chain: list[int]) -> dict:
    """{"account": row, domain id: row} of the rows that exist."""
    query = select(ResourceCount).where(ResourceCount.type == rtype.name, (
        (ResourceCount.account_id == account.id)
        | (ResourceCount.account_id.is_(None) & ResourceCount.domain_id.in_(chain))))
    rows = {}
    for row in ctx.db.scalars(query):
        rows["account" if row.account_id is not None else row.domain_id] = row
    return rows


def ensure_rows(ctx: Context, rtype: ResourceType, account: Account, chain: list[int]) -> dict:
    rows = count_rows(ctx, rtype, account, chain)
    if len(rows) == len(chain) + 1:
        return rows
    # Serialise the creation of a domain's rows on MariaDB (nothing else would: account_id is NULL there).
    ctx.db.execute(select(Domain.id).where(Domain.id.in_(chain)).with_for_update())
    rows = count_rows(ctx, rtype, account, chain)
    if "account" not in rows:
        counted = recount(ctx, rtype, [account.id]) or {}
        rows["account"] = add_row(ctx, rtype, account.id, account.domain_id, counted.get(account.id, 0))
    for domain_id in chain:
        if domain_id not in rows:
            counted = recount(ctx, rtype, accounts_below(ctx, domain_id)) or {}
            rows[domain_id] = add_row(ctx, rtype, None, domain_id, sum(counted.values()))
    return rows


def add_row(ctx: Context, rtype: ResourceType, account_id: int | None, domain_id: int, count: int):
    row = ResourceCount(type=rtype.name, account_id=account_id, domain_id=domain_id, count=count)
    ctx.db.add(row)
    ctx.db.flush()
    return row


def bump(ctx: Context, row_id: int, amount: int, limit: int) -> bool:
    """Add `amount` unless that passes `limit` (counted units; negative: unlimited)."""
    query = update(ResourceCount).where(ResourceCount.id == row_id)
    if limit >= 0:
        query = query.where(ResourceCount.count + amount <= limit)
    result = ctx.db.execute(query.values(count=ResourceCount.count + amount)
                            .execution_options(synchronize_session=False))
    return result.rowcount == 1


def lower(ctx: Context, row_id: int, amount: int) -> None:
    ctx.db.execute(update(ResourceCount).where(ResourceCount.id == row_id)
                   .values(count=case((ResourceCount.count >= amount, ResourceCount.count - amount), else_=0))
                   .execution_options(synchronize_session=False))


def current(ctx: Context, row_id: int) -> int:
    return ctx.db.scalar(select(ResourceCount.count).where(ResourceCount.id == row_id))


def set_count(ctx: Context, rtype: ResourceType, account_id: int | None, domain_id: int, value: int) -> None:
    """Overwrite a count (updateResourceCount), creating the row when missing."""
    owner = (ResourceCount.account_id == account_id) if account_id is not None else (
        ResourceCount.account_id.is_(None) & (ResourceCount.domain_id == domain_id))
    done = ctx.db.execute(update(ResourceCount).where(ResourceCount.type == rtype.name, owner)
                          .values(count=value).execution_options(synchronize_session=False))
    if done.rowcount == 0:
        add_row(ctx, rtype, account_id, domain_id, value)


def stored_count(ctx: Context, rtype: ResourceType, account_id: int | None, domain_id: int) -> int:
    owner = (ResourceCount.account_id == account_id) if account_id is not None else (
        ResourceCount.account_id.is_(None) & (ResourceCount.domain_id == domain_id))
    return ctx.db.scalar(select(ResourceCount.count).where(ResourceCount.type == rtype.name, owner)) or 0


# ---- the service API ------------------------------------------------------------------------

def reserve(ctx: Context, account_id: int, resource: "ResourceType | str | int", amount: int = 1) -> None:
    """Count `amount` more of a resource for the account and its domains, or raise 532 (nothing
    counted) when that passes the account's limit or any domain's limit up the tree."""
    rtype = resource_type(resource)
    if amount <= 0:
        return
    account = ctx.db.get(Account, account_id)
    chain = ancestry(ctx, account.domain_id)
    rows = ensure_rows(ctx, rtype, account, chain)
    free = is_unlimited_account(account)
    raised: list[int] = []
    try:
        limit = UNLIMITED if free else in_units(account_limit(ctx, account, rtype), rtype)
        if not bump(ctx, rows["account"].id, amount, limit):
            raise account_exceeded(ctx, rtype, account, limit, current(ctx, rows["account"].id), amount)
        raised.append(rows["account"].id)
        for domain_id in chain:
            limit = UNLIMITED if free else in_units(domain_limit(ctx, domain_id, rtype), rtype)
            if not bump(ctx, rows[domain_id].id, amount, limit):
                raise domain_exceeded(ctx, rtype, domain_id, limit, current(ctx, rows[domain_id].id), amount)
            raised.append(rows[domain_id].id)
    except ResourceLimitExceeded:
        # Undo at once: a caller that catches the error must not leave half a reservation behind.
        for row_id in raised:
            lower(ctx, row_id, amount)
        raise


def release(ctx: Context, account_id: int, resource: "ResourceType | str | int", amount: int = 1) -> None:
    """Count `amount` less for the account and its domains (never below zero). Rows not created yet
    are left alone: the first reservation will recount them from the tables."""
    rtype = resource_type(resource)
    if amount <= 0:
        return
    account = ctx.db.get(Account, account_id)
    for row in count_rows(ctx, rtype, account, ancestry(ctx, account.domain_id)).values():
        lower(ctx, row.id, amount)


# ---- several types in one pass -----------------------------------------------------------------

Amounts = dict[str, int] | list[tuple[str, int]]


def _wanted(amounts) -> dict[ResourceType, int]:
    """{type: total amount > 0}, in the order given (the first type over a limit is the one reported)."""
    wanted: dict[ResourceType, int] = {}
    for resource, amount in (amounts.items() if isinstance(amounts, dict) else amounts):
        if amount > 0:
            rtype = resource_type(resource)
            wanted[rtype] = wanted.get(rtype, 0) + amount
    return wanted


def count_ids(ctx: Context, rtypes: list[ResourceType], account: Account, chain: list[int]) -> dict:
    """{(type name, "account" | domain id): row id} of the count rows that exist, in one query."""
    statement = prebuilt("limits.count_ids", lambda: select(
        ResourceCount.id, ResourceCount.type, ResourceCount.account_id, ResourceCount.domain_id).where(
        ResourceCount.type.in_(bindparam("types", expanding=True)),
        (ResourceCount.account_id == bindparam("account"))
        | (ResourceCount.account_id.is_(None)
           & ResourceCount.domain_id.in_(bindparam("chain", expanding=True)))))
    rows = core(ctx.db, statement, {"types": [t.name for t in rtypes], "account": account.id, "chain": chain})
    return {(row.type, "account" if row.account_id is not None else row.domain_id): row.id for row in rows}


def ids_for(ctx: Context, rtypes: list[ResourceType], account: Account, chain: list[int]) -> dict:
    """count_ids, creating (and initialising) the rows that are missing."""
    ids = count_ids(ctx, rtypes, account, chain)
    for rtype in rtypes:
        if sum(1 for key in ids if key[0] == rtype.name) < len(chain) + 1:
            created = ensure_rows(ctx, rtype, account, chain)
            ids.update({(rtype.name, owner): row.id for owner, row in created.items()})
    return ids


def limits_for(ctx: Context, rtypes: list[ResourceType], account: Account, chain: list[int]) -> dict:
    """{(type name, "account" | domain id): limit in counted units}; one query for the explicit ones."""
    if is_unlimited_account(account):
        return {(t.name, owner): UNLIMITED for t in rtypes for owner in ("account", *chain)}
    explicit: dict = {"account": {}, **{d: {} for d in chain}}
    for row in ctx.db.scalars(select(ResourceLimit).where(
            (ResourceLimit.account_id == account.id)
            | (ResourceLimit.account_id.is_(None) & ResourceLimit.domain_id.in_(chain)))):
        explicit["account" if row.account_id is not None else row.domain_id][row.type] = row
    found = {}
    for rtype in rtypes:
        limit = account_limit(ctx, account, rtype, explicit["account"])
        found[(rtype.name, "account")] = in_units(limit, rtype)
        for domain_id in chain:
            limit = domain_limit(ctx, domain_id, rtype, explicit[domain_id])
            found[(rtype.name, domain_id)] = in_units(limit, rtype)
    return found


def bump_many(ctx: Context, plan: list[tuple[int, int, int]]) -> bool:
    """`bump` for each (row id, amount, limit) — the same conditional UPDATE, sent as one executemany.
    True when every row moved; otherwise nothing moved (a savepoint is rolled back)."""
    statement = prebuilt("limits.bump", lambda: update(ResourceCount).where(
        ResourceCount.id == bindparam("row"),
        (bindparam("limit") < 0) | (ResourceCount.count + bindparam("amount") <= bindparam("limit")))
        .values(count=ResourceCount.count + bindparam("amount")))
    rows = [{"row": row_id, "amount": amount, "limit": limit} for row_id, amount, limit in plan]
    if all(limit < 0 for _, _, limit in plan):
        return core(ctx.db, statement, rows).rowcount == len(rows)
    savepoint = ctx.db.begin_nested()
    if core(ctx.db, statement, rows).rowcount == len(rows):
        savepoint.commit()
        return True
    savepoint.rollback()
    return False


def reserve_many(ctx: Context, account_id: int, amounts: Amounts) -> None:
    """`reserve` for several types at once (a new VM's user_vm, cpu, memory, volume, primary_storage):
    one query for the counts, one for the limits, one conditional UPDATE for every row. All or nothing;
    over a limit, the types are reserved one by one so the 532 names the first one that does not fit."""
    wanted = _wanted(amounts)
    if not wanted:
        return
    account = ctx.db.get(Account, account_id)
    chain = ancestry(ctx, account.domain_id)
    rtypes = list(wanted)
    ids = ids_for(ctx, rtypes, account, chain)
    limits = limits_for(ctx, rtypes, account, chain)
    plan = [(row_id, wanted[resource_type(key[0])], limits[key]) for key, row_id in ids.items()]
    if bump_many(ctx, plan):
        return
    done: list[tuple[ResourceType, int]] = []
    try:
        for rtype, amount in wanted.items():
            reserve(ctx, account_id, rtype, amount)
            done.append((rtype, amount))
    except ResourceLimitExceeded:
        release_many(ctx, account_id, done)
        raise


def release_many(ctx: Context, account_id: int, amounts: Amounts) -> None:
    """`release` for several types at once: one query for the rows, one UPDATE (never below zero)."""
    wanted = _wanted(amounts)
    if not wanted:
        return
    account = ctx.db.get(Account, account_id)
    ids = count_ids(ctx, list(wanted), account, ancestry(ctx, account.domain_id))
    if not ids:
        return
    statement = prebuilt("limits.lower", lambda: update(ResourceCount)
                         .where(ResourceCount.id == bindparam("row"))
                         .values(count=case((ResourceCount.count >= bindparam("amount"),
                                             ResourceCount.count - bindparam("amount")), else_=0)))
    core(ctx.db, statement, [{"row": row_id, "amount": wanted[resource_type(key[0])]}
                             for key, row_id in ids.items()])


def in_units(limit: int, rtype: ResourceType) -> int:
    return limit if limit < 0 else limit * rtype.unit


def readable(rtype: ResourceType, value: int) -> str:
    """Storage amounts as upstream prints them (toHumanReadableSize); other types as numbers."""
    if rtype.unit == 1 or value < 0:
        return str(value)
    size, units = float(value), ("bytes", "KB", "MB", "GB", "TB", "PB")
    if size < 1024:
        return f"{value} bytes"
    index = 0
    while size >= 1024 and index < len(units) - 1:
        size /= 1024
        index += 1
    return f"{size:.2f} {units[index]}"


def account_exceeded(ctx, rtype, account: Account, limit: int, count: int, amount: int):
    return ResourceLimitExceeded(
        f"Maximum amount of resources of Type = '{rtype.name}', tag = 'null' for Account Name = "
        f"{account.account_name} in Domain Id = {account.domain_id} is exceeded: Account Resource Limit = "
        f"{readable(rtype, limit)}, Current Account Resource Amount = {readable(rtype, count)}, Current "
        f"Account Resource Reservation = 0, Requested Resource Amount = {readable(rtype, amount)}.")


def domain_exceeded(ctx, rtype, domain_id: int, limit: int, count: int, amount: int):
    uuid = domain_paths(ctx)[domain_id][1]
    return ResourceLimitExceeded(
        f"Maximum domain resource limits of Type '{rtype.name}' for Domain Id = {uuid} is exceeded: Domain "
        f"Resource Limit = {readable(rtype, limit)}, Current Domain Resource Amount = "
        f"{readable(rtype, count)}, Current Resource Reservation = 0, Requested Resource Amount = "
        f"{readable(rtype, amount)}.")


from . import limit_commands  # noqa: E402,F401  (declares the API commands)
